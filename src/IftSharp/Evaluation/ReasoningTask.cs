using System.Text;

namespace IftSharp.Evaluation;

/// <summary>
/// The GSM8K analogue: word problems of two or three arithmetic steps about a person's things. The target solution
/// writes each step as an equation and ends with <c>Answer: N</c>, as GSM8K's reference solutions end with <c>#### N</c>.
/// </summary>
public static class ReasoningTask
{
    public static TaskExample Sample(Random rng)
    {
        var name = Pick(rng, WorldKnowledge.Names);
        string other;
        do other = Pick(rng, WorldKnowledge.Names); while (other == name);
        var item = Pick(rng, WorldKnowledge.Items);
        int value = rng.Next(2, 21);
        var prompt = new StringBuilder($"{name} has {value} {item}.");
        var steps = new List<string>();
        int count = rng.Next(2, 4);
        for (int i = 0; i < count; i++)
        {
            int kind = rng.Next(5);
            if (kind == 4 && value > 12) kind = 0; // keep doubled numbers small
            if (kind is 2 or 3 && value < 2) kind = 0;
            switch (kind)
            {
                case 0:
                {
                    int b = rng.Next(1, 13);
                    prompt.Append($" {name} buys {b} more {item}.");
                    steps.Add($"{value} + {b} = {value + b}."); value += b;
                    break;
                }
                case 1:
                {
                    int k = rng.Next(2, 5), m = rng.Next(2, 6);
                    prompt.Append($" {name} gets {k} bags with {m} {item} each.");
                    steps.Add($"{k} x {m} = {k * m}. {value} + {k * m} = {value + k * m}."); value += k * m;
                    break;
                }
                case 2:
                {
                    int c = rng.Next(1, value);
                    prompt.Append($" {name} gives {c} {item} to {other}.");
                    steps.Add($"{value} - {c} = {value - c}."); value -= c;
                    break;
                }
                case 3:
                {
                    int c = rng.Next(1, value);
                    prompt.Append($" {name} loses {c} {item}.");
                    steps.Add($"{value} - {c} = {value - c}."); value -= c;
                    break;
                }
                default:
                    prompt.Append($" Then the number of {item} doubles.");
                    steps.Add($"{value} x 2 = {value * 2}."); value *= 2;
                    break;
            }
        }
        prompt.Append($" How many {item} does {name} have now?");
        var text = prompt.ToString();
        var answer = value.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return new TaskExample(TaskKind.Reasoning, text, text, $"{string.Join(" ", steps)}\nAnswer: {answer}", answer, []);
    }

    /// <summary>
    /// A wrong solution for a preference pair when the model produced none: the last step's result and the answer off by a few.
    /// </summary>
    public static string Corrupt(TaskExample example, Random rng)
    {
        int answer = int.Parse(example.Answer, System.Globalization.CultureInfo.InvariantCulture);
        int wrong;
        do wrong = answer + rng.Next(-5, 6); while (wrong == answer || wrong < 0);
        var body = example.Solution[..example.Solution.LastIndexOf("\nAnswer:", StringComparison.Ordinal)];
        int cut = body.LastIndexOf("= ", StringComparison.Ordinal);
        return $"{body[..(cut + 2)]}{wrong}.\nAnswer: {wrong}";
    }

    internal static T Pick<T>(Random rng, IReadOnlyList<T> values) => values[rng.Next(values.Count)];
}

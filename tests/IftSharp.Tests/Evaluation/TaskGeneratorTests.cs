using System.Globalization;
using System.Text.RegularExpressions;
using IftSharp.Evaluation;
using Xunit;

namespace IftSharp.Tests.Evaluation;

/// <summary>
/// The generated tasks are right: answers recomputed independently from the prompt text, splits disjoint, generation reproducible.
/// </summary>
public class TaskGeneratorTests
{
    /// <summary>Re-solves a word problem from its sentences alone, without the generator's bookkeeping.</summary>
    private static int Solve(string prompt)
    {
        int value = int.Parse(Regex.Match(prompt, @"^\w+ has (\d+) ").Groups[1].Value, CultureInfo.InvariantCulture);
        foreach (Match m in Regex.Matches(prompt, @"buys (\d+) more|gets (\d+) bags with (\d+) |gives (\d+) |loses (\d+) |doubles"))
        {
            int G(int i) => int.Parse(m.Groups[i].Value, CultureInfo.InvariantCulture);
            if (m.Groups[1].Success) value += G(1);
            else if (m.Groups[2].Success) value += G(2) * G(3);
            else if (m.Groups[4].Success) value -= G(4);
            else if (m.Groups[5].Success) value -= G(5);
            else value *= 2;
        }
        return value;
    }

    [Fact]
    public void ReasoningAnswersAreTheArithmeticOfThePromptAndEveryStepIsRight()
    {
        var items = TaskSuite.Items(TaskKind.Reasoning, TaskSplit.Train, 300, seed: 3);
        Assert.Equal(300, items.Count);
        foreach (var item in items)
        {
            Assert.Equal(Solve(item.Prompt).ToString(CultureInfo.InvariantCulture), item.Answer);
            Assert.Equal(item.Answer, TaskAnswers.Final(item.Solution));
            var equations = Regex.Matches(item.Solution, @"(\d+) ([+\-x]) (\d+) = (\d+)");
            Assert.InRange(equations.Count, 2, 6);
            foreach (Match e in equations)
            {
                long a = long.Parse(e.Groups[1].Value, CultureInfo.InvariantCulture);
                long b = long.Parse(e.Groups[3].Value, CultureInfo.InvariantCulture);
                long expected = e.Groups[2].Value switch { "+" => a + b, "-" => a - b, _ => a * b };
                Assert.Equal(expected, long.Parse(e.Groups[4].Value, CultureInfo.InvariantCulture));
            }
            Assert.True(Solve(item.Prompt) >= 0);
        }
    }

    [Fact]
    public void FactFollowingAnswersAreWhatTheStorySaysAndOftenContradictTheUsualPattern()
    {
        var items = TaskSuite.Items(TaskKind.FactFollowing, TaskSplit.Eval, 200, seed: 5);
        int contradicting = 0;
        foreach (var item in items)
        {
            var story = item.Prompt.Split('\n')[0];
            var question = item.Prompt.Split('\n')[1];
            var color = Regex.Match(question, @"What color is the (\w+) in");
            string subject = color.Success ? color.Groups[1].Value : Regex.Match(question, @"What does the (\w+) say").Groups[1].Value;
            var stated = Regex.Match(story, color.Success ? $@"[Tt]he {subject} is (\w+)\." : $@"[Tt]he {subject} says (\w+)\.");
            Assert.True(stated.Success, item.Prompt);
            Assert.Equal(stated.Groups[1].Value, item.Answer);
            string usual = color.Success
                ? WorldKnowledge.ColoredObjects.Single(o => o.Object == subject).Color
                : WorldKnowledge.Animals.Single(a => a.Animal == subject).Sound;
            if (usual != item.Answer) contradicting++;
            Assert.Equal(item.Answer, TaskAnswers.Final(item.Solution));
        }
        Assert.InRange(contradicting, 80, 160); // about 60% of the stated facts depart from the usual pattern
    }

    [Fact]
    public void MultipleChoiceHasFourDistinctOptionsAndTheAnswerIsAFactThePretrainingTextStates()
    {
        var items = TaskSuite.Items(TaskKind.MultipleChoice, TaskSplit.Eval, int.MaxValue, seed: 1);
        Assert.InRange(items.Count, 40, 100);
        foreach (var item in items)
        {
            Assert.Equal(4, item.Options.Distinct().Count());
            Assert.Contains(item.Answer, item.Options);
            var q = item.Prompt["Question: ".Length..];
            string fact = Regex.Match(q, @"^What is the capital of (\w+)\?$") is { Success: true } c
                    ? $"The capital of {c.Groups[1].Value} is {item.Answer}."
                : Regex.Match(q, @"^What is the national animal of (\w+)\?$") is { Success: true } n
                    ? $"The national animal of {n.Groups[1].Value} is the {item.Answer}."
                : Regex.Match(q, @"^What color is the (\w+) usually\?$") is { Success: true } o
                    ? $"The {o.Groups[1].Value} is usually {item.Answer}."
                : $"The {Regex.Match(q, @"^What does the (\w+) usually say\?$").Groups[1].Value} usually says {item.Answer}.";
            Assert.Contains(fact, PretrainingCorpus.AllFacts);
            // A distractor is never also true.
            foreach (var wrong in item.Options.Where(x => x != item.Answer))
                Assert.DoesNotContain(fact.Replace(item.Answer, wrong), PretrainingCorpus.AllFacts);
        }
    }

    [Theory]
    [InlineData(TaskKind.Reasoning)]
    [InlineData(TaskKind.FactFollowing)]
    [InlineData(TaskKind.MultipleChoice)]
    public void TheFourSplitsNeverShareAnItemAndTheSameSeedGivesTheSameItems(TaskKind task)
    {
        int n = task == TaskKind.MultipleChoice ? int.MaxValue : 400;
        TaskSplit[] splits = [TaskSplit.Pretrain, TaskSplit.Train, TaskSplit.Validation, TaskSplit.Eval];
        var keys = splits.Select((split, i) => TaskSuite.Items(task, split, n, seed: i + 1).Select(x => x.Key).ToHashSet()).ToList();
        Assert.All(keys, Assert.NotEmpty);
        for (int a = 0; a < splits.Length; a++)
            for (int b = a + 1; b < splits.Length; b++)
                Assert.Empty(keys[a].Intersect(keys[b]));
        // Another seed draws other items of the same split, never one of another split.
        foreach (var split in splits)
            Assert.All(TaskSuite.Items(task, split, n, seed: 77), x => Assert.Equal(split, x.Split));
        if (task == TaskKind.MultipleChoice) // finite: the four splits partition the questions
            Assert.Equal(MultipleChoiceTask.Questions.Count, keys.Sum(k => k.Count));
        Assert.Equal(TaskSuite.Items(task, TaskSplit.Train, n, seed: 2), TaskSuite.Items(task, TaskSplit.Train, n, seed: 2),
            new ItemComparer());
    }

    [Fact]
    public void TheValidationSplitIsLargeEnoughToChooseACheckpoint()
    {
        var choice = TaskSuite.Items(TaskKind.MultipleChoice, TaskSplit.Validation, int.MaxValue, seed: 1);
        Assert.InRange(choice.Count, 20, 60);
        Assert.Equal(200, TaskSuite.Items(TaskKind.Reasoning, TaskSplit.Validation, 200, seed: 1).Count);
        Assert.Equal(200, TaskSuite.Items(TaskKind.FactFollowing, TaskSplit.Validation, 200, seed: 1).Count);
    }

    [Fact]
    public void HeldOutTextAndThePretrainingCorpusShareNoProblem()
    {
        var corpus = PretrainingCorpus.Documents(3000, seed: 0);
        var text = string.Join("\n", corpus.Select(d => d.Text ?? string.Join("\n", d.Conversation!.Select(m => m.Content))));
        foreach (var heldOut in PretrainingCorpus.HeldOut(40, seed: 1234))
            Assert.DoesNotContain(heldOut.Split('\n')[0].Replace("Problem: ", ""), text);
        Assert.Contains(corpus, d => d.Conversation is not null);
        Assert.Contains(corpus, d => d.Text is not null && d.Text.StartsWith("The ", StringComparison.Ordinal));
    }

    [Fact]
    public void CorruptedSolutionsAreWrongAndKeepTheShape()
    {
        var rng = new Random(0);
        foreach (var task in new[] { TaskKind.Reasoning, TaskKind.FactFollowing, TaskKind.MultipleChoice })
            foreach (var item in TaskSuite.Items(task, TaskSplit.Train, 50, seed: 9))
            {
                var wrong = TaskSuite.Corrupt(item, rng);
                Assert.False(TaskAnswers.IsCorrect(wrong, item), wrong);
                Assert.NotNull(TaskAnswers.Final(wrong));
            }
    }

    private sealed class ItemComparer : IEqualityComparer<TaskExample>
    {
        public bool Equals(TaskExample? a, TaskExample? b) =>
            a!.Key == b!.Key && a.Solution == b.Solution && a.Options.SequenceEqual(b.Options);
        public int GetHashCode(TaskExample x) => x.Key.GetHashCode(StringComparison.Ordinal);
    }
}

namespace IftSharp.Evaluation;

/// <summary>
/// The small world the task suite talks about: people, countable things, objects with a usual colour and animals with
/// a usual sound (the "common patterns" the pretraining text repeats and fact-following stories contradict), and
/// invented countries with capitals and national animals (knowledge only the pretraining text states).
/// </summary>
public static class WorldKnowledge
{
    public static readonly string[] Names =
    [
        "Ada", "Ben", "Cora", "Dan", "Eva", "Finn", "Gus", "Hana", "Ivy", "Jon", "Kai", "Lea", "Max", "Nia",
        "Omar", "Pia", "Raj", "Sam", "Tia", "Uma", "Vic", "Wes", "Yara", "Zoe",
    ];

    public static readonly string[] Items =
        ["apples", "pens", "books", "cards", "coins", "shells", "stamps", "marbles", "cookies", "stickers"];

    public static readonly string[] Colors =
        ["red", "blue", "green", "yellow", "white", "black", "orange", "purple", "pink", "brown", "gray"];

    public static readonly (string Object, string Color)[] ColoredObjects =
    [
        ("banana", "yellow"), ("sky", "blue"), ("grass", "green"), ("snow", "white"), ("coal", "black"), ("tomato", "red"),
        ("carrot", "orange"), ("plum", "purple"), ("lemon", "yellow"), ("cherry", "red"), ("milk", "white"), ("crow", "black"),
        ("pumpkin", "orange"), ("frog", "green"), ("sea", "blue"), ("flamingo", "pink"), ("bear", "brown"), ("elephant", "gray"),
    ];

    public static readonly string[] Sounds =
        ["meow", "woof", "moo", "quack", "baa", "hoot", "roar", "neigh", "buzz", "oink", "squeak", "howl"];

    public static readonly (string Animal, string Sound)[] Animals =
    [
        ("cat", "meow"), ("dog", "woof"), ("cow", "moo"), ("duck", "quack"), ("sheep", "baa"), ("owl", "hoot"),
        ("lion", "roar"), ("horse", "neigh"), ("bee", "buzz"), ("pig", "oink"), ("mouse", "squeak"), ("wolf", "howl"),
    ];

    /// <summary>
    /// Invented countries: (name, capital, national animal), built from syllables with a fixed seed so they never change.
    /// </summary>
    public static readonly IReadOnlyList<(string Country, string Capital, string Animal)> Countries = BuildCountries(60);

    private static List<(string, string, string)> BuildCountries(int count)
    {
        string[] onsets = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z"];
        string[] vowels = ["a", "e", "i", "o", "u"];
        string[] endings = ["ria", "land", "mora", "stan", "via", "nia"];
        var rng = new Random(20240601);
        string Syllable() => onsets[rng.Next(onsets.Length)] + vowels[rng.Next(vowels.Length)];
        var used = new HashSet<string>();
        var result = new List<(string, string, string)>();
        while (result.Count < count)
        {
            var country = Capitalised(Syllable() + Syllable() + endings[rng.Next(endings.Length)]);
            var capital = Capitalised(Syllable() + Syllable() + onsets[rng.Next(onsets.Length)]);
            var animal = Animals[rng.Next(Animals.Length)].Animal;
            if (used.Add(country) && used.Add(capital)) result.Add((country, capital, animal));
        }
        return result;
    }

    private static string Capitalised(string s) => char.ToUpperInvariant(s[0]) + s[1..];
}

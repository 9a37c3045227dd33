using IftSharp.Core;

namespace IftSharp.FrozenLake;

/// <summary>Gymnasium's FrozenLake actions.</summary>
public enum LakeAction { Left = 0, Down = 1, Right = 2, Up = 3 }

/// <summary>
/// A deterministic Frozen Lake (Gymnasium's semantics with <c>is_slippery=False</c>): S start, F frozen, H hole,
/// G goal; moving off the grid leaves the agent in place; holes and the goal end the episode, the goal with reward 1.
/// States are cell indices row·width + column, as in Gymnasium.
/// </summary>
public sealed class FrozenLakeMap
{
    public const int ActionCount = 4;

    /// <summary>
    /// The default map: exactly two hole-free simple routes from S to G — down the left column and along the
    /// bottom row (8 steps, optimal), or along the top row, down the right column, through the middle and down
    /// (12 steps, sub-optimal).
    /// </summary>
    public const string DefaultLayout = "SFFFF/FHHHF/FHFFF/FHFHH/FFFFG";

    public int Rows { get; }
    public int Columns { get; }
    public int StateCount => Rows * Columns;
    public int Start { get; }
    public int Goal { get; }
    private readonly char[] _cells;

    private FrozenLakeMap(char[] cells, int rows, int columns)
    {
        _cells = cells; Rows = rows; Columns = columns;
        Start = Array.IndexOf(cells, 'S');
        Goal = Array.IndexOf(cells, 'G');
    }

    public string Layout => string.Join("/", Enumerable.Range(0, Rows).Select(r => new string(_cells, r * Columns, Columns)));

    public static FrozenLakeMap Default => Parse(DefaultLayout);

    /// <summary>Parses Gymnasium's row strings, separated by '/', ',' or newlines (e.g. "SFFF/FHFH/FFFH/HFFG").</summary>
    public static FrozenLakeMap Parse(string layout)
    {
        var rows = layout.Split(new[] { '/', ',', '\n', ';' }, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (rows.Length == 0) throw new InputException("--map: empty map; expected rows like SFFF/FHFH/FFFH/HFFG");
        int width = rows[0].Length;
        for (int r = 0; r < rows.Length; r++)
        {
            if (rows[r].Length != width)
                throw new InputException($"--map: row {r + 1} '{rows[r]}' has {rows[r].Length} cells; expected {width} like row 1");
            foreach (var c in rows[r])
                if ("SFHG".IndexOf(c) < 0)
                    throw new InputException($"--map: row {r + 1} '{rows[r]}' has '{c}'; expected only S, F, H or G");
        }
        var cells = string.Concat(rows).ToCharArray();
        if (cells.Count(c => c == 'S') != 1) throw new InputException("--map: expected exactly one start cell 'S'");
        if (cells.Count(c => c == 'G') != 1) throw new InputException("--map: expected exactly one goal cell 'G'");
        return new FrozenLakeMap(cells, rows.Length, width);
    }

    public char Cell(int state) => _cells[state];
    public bool IsTerminal(int state) => _cells[state] is 'H' or 'G';
    public (int Row, int Column) Position(int state) => (state / Columns, state % Columns);

    /// <summary>The next state and reward; terminal states absorb.</summary>
    public (int Next, double Reward, bool Done) Step(int state, LakeAction action)
    {
        if (IsTerminal(state)) return (state, 0, true);
        var (r, c) = Position(state);
        switch (action)
        {
            case LakeAction.Left: c = Math.Max(c - 1, 0); break;
            case LakeAction.Down: r = Math.Min(r + 1, Rows - 1); break;
            case LakeAction.Right: c = Math.Min(c + 1, Columns - 1); break;
            case LakeAction.Up: r = Math.Max(r - 1, 0); break;
        }
        int next = r * Columns + c;
        return (next, _cells[next] == 'G' ? 1.0 : 0.0, IsTerminal(next));
    }
}

using System.Diagnostics;
using IftSharp.Core;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Reproduces the TorchSharp 0.107 Scalar lifetime race (see <see cref="ScalarArithmetic"/>): in-place additions on
/// this thread while another thread allocates (and so triggers garbage collections), through TorchSharp's
/// <c>x.add_(y)</c> (a temporary alpha Scalar) and through <see cref="ScalarArithmetic.PlusInPlace(Tensor, Tensor)"/>.
/// </summary>
static class ScalarRace
{
    public static string Run(string name, Action<Tensor, Tensor> add, double seconds)
    {
        using var x = zeros(64);
        using var y = ones(64);
        var stop = false;
        var noise = new Thread(() => { while (!Volatile.Read(ref stop)) GC.KeepAlive(new object[64]); });
        noise.Start();
        var clock = Stopwatch.StartNew();
        int gcBefore = GC.CollectionCount(0);
        long ops = 0;
        string outcome = "no failure";
        try
        {
            for (; clock.Elapsed.TotalSeconds < seconds; ops++) add(x, y);
        }
        catch (Exception e) { outcome = "FAILED: " + e.Message.Split('\n')[0]; }
        Volatile.Write(ref stop, true);
        noise.Join();
        return $"{name}: {ops:N0} additions, {GC.CollectionCount(0) - gcBefore:N0} collections "
            + $"in {clock.Elapsed.TotalSeconds:F1} s: {outcome}";
    }
}

using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace IftSharp.Benchmarking;

/// <summary>
/// The machine's memory read bandwidth as a decoding step meets it: one pass over a buffer far larger than the last
/// level cache, split over the threads decoding uses, each summing its part through SIMD registers (the same
/// streaming read the decode kernels do for the weights, without their multiply). The fastest of several passes.
/// </summary>
public static class MemoryBandwidth
{
    /// <summary>Bytes per second (the fastest of <paramref name="passes"/> passes over <paramref name="megabytes"/> MiB).</summary>
    public static unsafe double ReadBytesPerSecond(int threads, int megabytes = 1024, int passes = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        long floats = (long)megabytes * 1024 * 1024 / sizeof(float);
        var buffer = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
        try
        {
            new Span<float>(buffer, (int)Math.Min(floats, int.MaxValue)).Fill(1f); // fault every page in before timing
            for (long i = int.MaxValue; i < floats; i++) buffer[i] = 1f;
            double best = double.MaxValue;
            var sums = new float[threads];
            for (int pass = 0; pass <= passes; pass++) // pass 0 warms the threads up
            {
                var clock = Stopwatch.StartNew();
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads },
                    part => sums[part] = Sum(buffer + floats * part / threads, floats * (part + 1) / threads - floats * part / threads));
                if (pass > 0) best = Math.Min(best, clock.Elapsed.TotalSeconds);
            }
            if (Math.Abs(sums.Sum(s => (double)s) - floats) > floats * 1e-3)
                throw new InvalidOperationException("the bandwidth pass read wrong values");
            return floats * sizeof(float) / best;
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    private static unsafe float Sum(float* data, long count)
    {
        long i = 0;
        float total = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i + 64 <= count; i += 64)
            {
                s0 += Vector512.Load(data + i);
                s1 += Vector512.Load(data + i + 16);
                s2 += Vector512.Load(data + i + 32);
                s3 += Vector512.Load(data + i + 48);
            }
            total = Vector512.Sum(s0 + s1 + (s2 + s3));
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i + 32 <= count; i += 32)
            {
                s0 += Vector256.Load(data + i);
                s1 += Vector256.Load(data + i + 8);
                s2 += Vector256.Load(data + i + 16);
                s3 += Vector256.Load(data + i + 24);
            }
            total = Vector256.Sum(s0 + s1 + (s2 + s3));
        }
        for (; i < count; i++) total += data[i];
        return total;
    }
}

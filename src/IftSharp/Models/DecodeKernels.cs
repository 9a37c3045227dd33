using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace IftSharp.Models;

/// <summary>A row-major weight matrix [Rows, Columns] in libtorch's memory, float32 or bfloat16.</summary>
internal readonly unsafe struct WeightMatrix(void* data, int rows, int columns, bool bf16)
{
    public readonly void* Data = data;
    public readonly int Rows = rows, Columns = columns;
    public readonly bool Bf16 = bf16;

}

/// <summary>
/// The arithmetic of one decoding step, on float32 activations and float32 or bfloat16 weights and caches. A step at
/// batch 1 is a chain of matrix-vector products that read every weight once; libtorch runs them at about half the
/// machine's read bandwidth in float32 and far below it in bfloat16 (its bf16 kernels are built for matrix-matrix
/// products), so these loops stream each weight row once through SIMD registers instead.
/// </summary>
internal static unsafe class DecodeKernels
{
    /// <summary>y[b, n] = bias[n] + Σ_k W[n, k] · x[b, k] for the rows n in [first, end) and every b in the batch.</summary>
    public static void MatVec(in WeightMatrix w, float* x, int batch, float* y, int yStride, float* bias, int first, int end)
    {
        int k = w.Columns;
        for (int n = first; n < end; n++)
        {
            float b0 = bias is null ? 0f : bias[n];
            if (w.Bf16)
            {
                var row = (ushort*)w.Data + (long)n * k;
                for (int b = 0; b < batch; b++) y[(long)b * yStride + n] = b0 + Dot(row, x + (long)b * k, k);
            }
            else
            {
                var row = (float*)w.Data + (long)n * k;
                for (int b = 0; b < batch; b++) y[(long)b * yStride + n] = b0 + Dot(row, x + (long)b * k, k);
            }
        }
    }

    /// <summary>Σ a[i] · x[i] over float32 a.</summary>
    public static float Dot(float* a, float* x, int n)
    {
        int i = 0;
        float sum = 0f;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i + 64 <= n; i += 64)
            {
                s0 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(x + i), s0);
                s1 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i + 16), Vector512.Load(x + i + 16), s1);
                s2 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i + 32), Vector512.Load(x + i + 32), s2);
                s3 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i + 48), Vector512.Load(x + i + 48), s3);
            }
            for (; i + 16 <= n; i += 16) s0 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(x + i), s0);
            sum = Vector512.Sum(s0 + s1 + (s2 + s3));
        }
        else if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i + 32 <= n; i += 32)
            {
                s0 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(x + i), s0);
                s1 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 8), Vector256.Load(x + i + 8), s1);
                s2 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 16), Vector256.Load(x + i + 16), s2);
                s3 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 24), Vector256.Load(x + i + 24), s3);
            }
            for (; i + 8 <= n; i += 8) s0 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(x + i), s0);
            sum = Vector256.Sum(s0 + s1 + (s2 + s3));
        }
        for (; i < n; i++) sum = MathF.FusedMultiplyAdd(a[i], x[i], sum);
        return sum;
    }

    /// <summary>Σ a[i] · x[i] over bfloat16 a (a bfloat16 is the high half of a float32: widened by a shift).</summary>
    public static float Dot(ushort* a, float* x, int n)
    {
        int i = 0;
        float sum = 0f;
        if (Vector512.IsHardwareAccelerated && n >= 32)
        {
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i + 64 <= n; i += 64)
            {
                var (l0, h0) = Vector512.Widen(Vector512.Load(a + i));
                var (l1, h1) = Vector512.Widen(Vector512.Load(a + i + 32));
                s0 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(l0, 16).AsSingle(), Vector512.Load(x + i), s0);
                s1 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(h0, 16).AsSingle(), Vector512.Load(x + i + 16), s1);
                s2 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(l1, 16).AsSingle(), Vector512.Load(x + i + 32), s2);
                s3 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(h1, 16).AsSingle(), Vector512.Load(x + i + 48), s3);
            }
            for (; i + 32 <= n; i += 32)
            {
                var (l, h) = Vector512.Widen(Vector512.Load(a + i));
                s0 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(l, 16).AsSingle(), Vector512.Load(x + i), s0);
                s1 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(h, 16).AsSingle(), Vector512.Load(x + i + 16), s1);
            }
            sum = Vector512.Sum(s0 + s1 + (s2 + s3));
        }
        else if (Vector256.IsHardwareAccelerated && n >= 16)
        {
            Vector256<float> s0 = default, s1 = default;
            for (; i + 16 <= n; i += 16)
            {
                var (l, h) = Vector256.Widen(Vector256.Load(a + i));
                s0 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(l, 16).AsSingle(), Vector256.Load(x + i), s0);
                s1 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(h, 16).AsSingle(), Vector256.Load(x + i + 8), s1);
            }
            sum = Vector256.Sum(s0 + s1);
        }
        for (; i < n; i++) sum = MathF.FusedMultiplyAdd(Bf16ToSingle(a[i]), x[i], sum);
        return sum;
    }

    /// <summary>y[i] += p · v[i] over float32 or bfloat16 v.</summary>
    public static void AddScaled(float* y, void* v, bool bf16, float p, int n)
    {
        int i = 0;
        if (bf16)
        {
            var row = (ushort*)v;
            if (Vector256.IsHardwareAccelerated)
            {
                var scale = Vector256.Create(p);
                for (; i + 16 <= n; i += 16)
                {
                    var (l, h) = Vector256.Widen(Vector256.Load(row + i));
                    Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(l, 16).AsSingle(), scale, Vector256.Load(y + i)).Store(y + i);
                    Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(h, 16).AsSingle(), scale, Vector256.Load(y + i + 8)).Store(y + i + 8);
                }
            }
            for (; i < n; i++) y[i] = MathF.FusedMultiplyAdd(Bf16ToSingle(row[i]), p, y[i]);
        }
        else
        {
            var row = (float*)v;
            if (Vector256.IsHardwareAccelerated)
            {
                var scale = Vector256.Create(p);
                for (; i + 8 <= n; i += 8) Vector256.FusedMultiplyAdd(Vector256.Load(row + i), scale, Vector256.Load(y + i)).Store(y + i);
            }
            for (; i < n; i++) y[i] = MathF.FusedMultiplyAdd(row[i], p, y[i]);
        }
    }

    /// <summary>
    /// Hugging Face's RMSNorm in float32: y = weight · x / sqrt(mean(x²) + eps), over <paramref name="n"/> values.
    /// </summary>
    public static void RmsNorm(float* x, float* weight, float eps, float* y, int n)
    {
        double squares = 0; // float32 products summed in float64: no order-dependent drift over 4,096 values
        for (int i = 0; i < n; i++) squares += x[i] * x[i];
        float inverse = 1f / MathF.Sqrt((float)(squares / n) + eps);
        for (int i = 0; i < n; i++) y[i] = weight[i] * (x[i] * inverse);
    }

    /// <summary>Rotates one head in place as <c>x·cos + rotate_half(x)·sin</c>, rotate_half pairing i with i + d/2.</summary>
    public static void Rotate(float* x, float* cos, float* sin, int d)
    {
        int half = d / 2;
        for (int i = 0; i < half; i++)
        {
            float x1 = x[i], x2 = x[i + half];
            x[i] = x1 * cos[i] - x2 * sin[i];
            x[i + half] = x2 * cos[i + half] + x1 * sin[i + half];
        }
    }

    /// <summary>
    /// One query head against cached keys and values [length, d] (float32 or bfloat16) from position
    /// <paramref name="first"/> on: softmax(q·kᵀ · scale) · v into <paramref name="output"/>; scores is scratch.
    /// </summary>
    public static void Attend(float* q, void* keys, void* values, bool bf16, int first, int length, int d, float scale,
                              float* scores, float* output)
    {
        float max = float.NegativeInfinity;
        for (int j = first; j < length; j++)
        {
            float s = (bf16 ? Dot((ushort*)keys + (long)j * d, q, d) : Dot((float*)keys + (long)j * d, q, d)) * scale;
            scores[j] = s;
            if (s > max) max = s;
        }
        float total = 0f;
        for (int j = first; j < length; j++)
        {
            scores[j] = MathF.Exp(scores[j] - max);
            total += scores[j];
        }
        new Span<float>(output, d).Clear();
        float inverse = 1f / total;
        for (int j = first; j < length; j++)
        {
            long offset = (long)j * d * (bf16 ? 2 : 4);
            AddScaled(output, (byte*)values + offset, bf16, scores[j] * inverse, d);
        }
    }

    /// <summary>SwiGLU's middle: gate[i] = silu(gate[i]) · up[i].</summary>
    public static void SiluTimes(float* gate, float* up, int n)
    {
        for (int i = 0; i < n; i++)
        {
            float g = gate[i];
            gate[i] = g / (1f + MathF.Exp(-g)) * up[i];
        }
    }

    /// <summary>Copies float32 values to float32 or bfloat16 (rounded to nearest even, as libtorch rounds).</summary>
    public static void Store(float* source, void* destination, bool bf16, int n)
    {
        if (!bf16)
        {
            new ReadOnlySpan<float>(source, n).CopyTo(new Span<float>(destination, n));
            return;
        }
        var target = (ushort*)destination;
        for (int i = 0; i < n; i++) target[i] = SingleToBf16(source[i]);
    }

    /// <summary>Widens float32 or bfloat16 values to float32.</summary>
    public static void Load(void* source, bool bf16, float* destination, int n)
    {
        if (!bf16)
        {
            new ReadOnlySpan<float>(source, n).CopyTo(new Span<float>(destination, n));
            return;
        }
        var values = (ushort*)source;
        for (int i = 0; i < n; i++) destination[i] = Bf16ToSingle(values[i]);
    }

    /// <summary><see cref="Dot(float*, float*, int)"/> over spans (for callers without pointers).</summary>
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> x)
    {
        fixed (float* pa = a, px = x) return Dot(pa, px, Math.Min(a.Length, x.Length));
    }

    /// <summary><see cref="Dot(ushort*, float*, int)"/> over spans.</summary>
    public static float Dot(ReadOnlySpan<ushort> a, ReadOnlySpan<float> x)
    {
        fixed (ushort* pa = a)
        fixed (float* px = x) return Dot(pa, px, Math.Min(a.Length, x.Length));
    }

    /// <summary><see cref="AddScaled(float*, void*, bool, float, int)"/> over spans of float32 or bfloat16 values.</summary>
    public static void AddScaled<T>(Span<float> y, ReadOnlySpan<T> v, float p) where T : unmanaged
    {
        fixed (float* py = y)
        fixed (T* pv = v) AddScaled(py, pv, typeof(T) == typeof(ushort), p, Math.Min(y.Length, v.Length));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Bf16ToSingle(ushort value) => BitConverter.Int32BitsToSingle(value << 16);

    /// <summary>float32 to bfloat16, rounded to nearest even; NaN stays a quiet NaN (c10::BFloat16's rule).</summary>
    public static ushort SingleToBf16(float value)
    {
        if (float.IsNaN(value)) return 0x7FC0;
        uint bits = BitConverter.SingleToUInt32Bits(value);
        bits += 0x7FFFu + ((bits >> 16) & 1u);
        return (ushort)(bits >> 16);
    }
}

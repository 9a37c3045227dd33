using System.Runtime.InteropServices;
using IftSharp.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>
/// One decoding step of a <see cref="LlamaForCausalLM"/> — one new token per row after the prompt — computed by
/// <see cref="DecodeKernels"/> straight from the model's parameters and its <see cref="KvCache"/>, with the same
/// arithmetic as the model's forward pass (Hugging Face's Llama/Mistral/Qwen2/Qwen3: RMSNorm, q/k/v biases, Qwen3's
/// q/k norms, rotary positions, grouped-query attention over the cache, SwiGLU, tied or separate head). Activations
/// stay float32; weights and the cache are read in their own dtype (float32 or bfloat16), so a bfloat16 model decodes
/// with half the bytes per token and float32 accumulation. <see cref="TokenGenerator"/> uses it after the prompt's
/// libtorch forward pass has filled the cache.
/// </summary>
/// <remarks>
/// It reads the parameters by their Hugging Face names and refuses (<see cref="TryCreate"/> returns null) a model
/// with any parameter it does not know (an adapter, say), in another dtype, not contiguous or not on the CPU: the
/// libtorch forward pass then decodes. The model must not change while a decoder exists; the parameters' memory is
/// read in place.
/// </remarks>
internal sealed unsafe class SingleTokenDecoder : IDisposable
{
    private readonly record struct Layer(
        WeightMatrix Q, WeightMatrix K, WeightMatrix V, WeightMatrix O, WeightMatrix Gate, WeightMatrix Up, WeightMatrix Down,
        nint QBias, nint KBias, nint VBias, nint OBias, nint GateBias, nint UpBias, nint DownBias,
        nint InputNorm, nint PostAttentionNorm, nint QNorm, nint KNorm);

    private readonly record struct Job(WeightMatrix W, nint X, nint Y, int YStride, nint Bias);

    private readonly KvCache _cache;
    private readonly int _batch, _hidden, _heads, _kvHeads, _headDim, _intermediate, _vocab, _threads;
    private readonly float _eps, _scale;
    private readonly Layer[] _layers;
    private readonly WeightMatrix _embedding, _head;
    private readonly nint _finalNorm;
    private readonly List<nint> _allocations = [];
    private readonly float* _h, _x, _q, _k, _v, _attended, _o, _gate, _up, _down, _scores, _cos, _sin;
    private readonly Tensor _logits;
    private readonly float* _logitsData;
    private readonly Job[] _jobs = new Job[3];
    private int _jobCount;

    private SingleTokenDecoder(LlamaForCausalLM model, KvCache cache, Dictionary<string, Tensor> parameters)
    {
        var config = model.Config;
        _cache = cache;
        _batch = (int)cache.BatchSize;
        _hidden = config.HiddenSize;
        _heads = config.NumAttentionHeads;
        _kvHeads = config.KeyValueHeads;
        _headDim = config.HeadDim;
        _intermediate = config.IntermediateSize;
        _vocab = config.VocabSize;
        _eps = (float)config.RmsNormEps;
        _scale = 1f / MathF.Sqrt(_headDim);
        _threads = Math.Max(1, get_num_threads());

        _embedding = Matrix(parameters["model.embed_tokens.weight"]);
        _head = config.TieWordEmbeddings ? _embedding : Matrix(parameters["lm_head.weight"]);
        _finalNorm = Vector(parameters["model.norm.weight"]);
        _layers = new Layer[config.NumHiddenLayers];
        for (int i = 0; i < _layers.Length; i++)
        {
            string p = $"model.layers.{i}.";
            _layers[i] = new Layer(
                Matrix(parameters[p + "self_attn.q_proj.weight"]), Matrix(parameters[p + "self_attn.k_proj.weight"]),
                Matrix(parameters[p + "self_attn.v_proj.weight"]), Matrix(parameters[p + "self_attn.o_proj.weight"]),
                Matrix(parameters[p + "mlp.gate_proj.weight"]), Matrix(parameters[p + "mlp.up_proj.weight"]),
                Matrix(parameters[p + "mlp.down_proj.weight"]),
                OptionalVector(p + "self_attn.q_proj.bias"), OptionalVector(p + "self_attn.k_proj.bias"),
                OptionalVector(p + "self_attn.v_proj.bias"), OptionalVector(p + "self_attn.o_proj.bias"),
                OptionalVector(p + "mlp.gate_proj.bias"), OptionalVector(p + "mlp.up_proj.bias"), OptionalVector(p + "mlp.down_proj.bias"),
                Vector(parameters[p + "input_layernorm.weight"]), Vector(parameters[p + "post_attention_layernorm.weight"]),
                OptionalVector(p + "self_attn.q_norm.weight"), OptionalVector(p + "self_attn.k_norm.weight"));
        }

        _h = Allocate(_batch * _hidden);
        _x = Allocate(_batch * Math.Max(_hidden, _heads * _headDim));
        _q = Allocate(_batch * _heads * _headDim);
        _k = Allocate(_batch * _kvHeads * _headDim);
        _v = Allocate(_batch * _kvHeads * _headDim);
        _attended = Allocate(_batch * _heads * _headDim);
        _o = Allocate(_batch * _hidden);
        _gate = Allocate(_batch * _intermediate);
        _up = Allocate(_batch * _intermediate);
        _down = Allocate(_batch * _hidden);
        _scores = Allocate(_batch * _heads * cache.MaxLength);

        // cos/sin of every position the cache can hold, from the model's own rotary definition, in float32.
        _cos = Allocate(cache.MaxLength * _headDim);
        _sin = Allocate(cache.MaxLength * _headDim);
        using (var scope = NewDisposeScope())
        {
            var positions = ScalarArithmetic.Range(0, cache.MaxLength).unsqueeze(0);
            var (cos, sin) = new RotaryEmbedding(config).CosSin(positions, ScalarType.Float32);
            cos.contiguous().data<float>().CopyTo(new Span<float>(_cos, (int)(cache.MaxLength * _headDim)));
            sin.contiguous().data<float>().CopyTo(new Span<float>(_sin, (int)(cache.MaxLength * _headDim)));
        }
        _logits = zeros([_batch, _vocab], ScalarType.Float32).DetachFromDisposeScope();
        _logitsData = (float*)DataPointer(_logits);

        nint OptionalVector(string name) => parameters.TryGetValue(name, out var t) ? Vector(t) : 0;
    }

    /// <summary>
    /// A decoder for <paramref name="model"/> writing into <paramref name="cache"/>, or null (with the reason) when the
    /// model has parameters, dtypes or a layout it does not handle.
    /// </summary>
    public static SingleTokenDecoder? TryCreate(LlamaForCausalLM model, KvCache cache, out string reason)
    {
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        var config = model.Config;
        var known = new HashSet<string> { "model.embed_tokens.weight", "model.norm.weight" };
        if (!config.TieWordEmbeddings) known.Add("lm_head.weight");
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            foreach (var proj in new[] { "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                         "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj" })
            {
                known.Add($"model.layers.{i}.{proj}.weight");
                known.Add($"model.layers.{i}.{proj}.bias");
            }
            foreach (var norm in new[] { "input_layernorm", "post_attention_layernorm", "self_attn.q_norm", "self_attn.k_norm" })
                known.Add($"model.layers.{i}.{norm}.weight");
        }
        reason = "";
        if (parameters.Keys.FirstOrDefault(name => !known.Contains(name)) is string unknown)
            reason = $"parameter '{unknown}' is not part of the architecture the decoder knows";
        else if (parameters.Values.FirstOrDefault(t => !Readable(t)) is Tensor odd)
            reason = $"a parameter is {odd.dtype} on {odd.device_type}{(odd.is_contiguous() ? "" : ", not contiguous")}";
        else if (Enumerable.Range(0, cache.Layers).Any(i => !Readable(cache.KeysOf(i)) || !Readable(cache.ValuesOf(i))))
            reason = "the KV cache is not float32 or bfloat16 on the CPU";
        else if (config.NumHiddenLayers != cache.Layers)
            reason = "the KV cache has another number of layers";
        // Its attention sees every cached position and its rotary table is made once for the cache's length: a sliding
        // window, or dynamic RoPE (whose frequencies follow the sequence's length as it grows), needs libtorch's path.
        else if (Enumerable.Range(0, config.NumHiddenLayers).Any(i => config.SlidingWindowOf(i) is int w && w < cache.MaxLength))
            reason = "a sliding window shorter than the cache";
        else if (config.RopeScaling?.Kind == "dynamic")
            reason = "dynamic RoPE scaling";
        if (reason != "") return null;
        return new SingleTokenDecoder(model, cache, parameters);
    }

    /// <summary>
    /// Decodes one token per row: <paramref name="tokens"/> [B] at the cache's next position, row b's first
    /// <paramref name="leftPadding"/>[b] positions being padding. Returns float32 logits [B, V] (a buffer this decoder
    /// reuses: read it before the next step) and advances the cache by one position.
    /// </summary>
    public Tensor Step(ReadOnlySpan<long> tokens, ReadOnlySpan<int> leftPadding)
    {
        if (tokens.Length != _batch || leftPadding.Length != _batch)
            throw new ArgumentException($"expected {_batch} tokens and paddings, got {tokens.Length} and {leftPadding.Length}");
        int length = (int)_cache.Length;
        if (length + 1 > _cache.MaxLength)
            throw new InvalidOperationException($"KV cache full: {length} + 1 positions exceed its {_cache.MaxLength}");
        int qWidth = _heads * _headDim, kvWidth = _kvHeads * _headDim;
        for (int b = 0; b < _batch; b++)
        {
            if ((ulong)tokens[b] >= (ulong)_vocab)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"token {tokens[b]} outside the vocabulary");
            RowOf(_embedding, (int)tokens[b], _h + (long)b * _hidden);
        }
        var padding = leftPadding.ToArray();

        for (int layer = 0; layer < _layers.Length; layer++)
        {
            var l = _layers[layer];
            for (int b = 0; b < _batch; b++)
                DecodeKernels.RmsNorm(_h + (long)b * _hidden, (float*)l.InputNorm, _eps, _x + (long)b * _hidden, _hidden);
            Run(new Job(l.Q, (nint)_x, (nint)_q, qWidth, l.QBias), new Job(l.K, (nint)_x, (nint)_k, kvWidth, l.KBias),
                new Job(l.V, (nint)_x, (nint)_v, kvWidth, l.VBias));

            var keys = _cache.KeysOf(layer);
            var values = _cache.ValuesOf(layer);
            bool bf16Cache = keys.dtype == ScalarType.BFloat16;
            var keyData = (byte*)DataPointer(keys);
            var valueData = (byte*)DataPointer(values);
            int element = bf16Cache ? 2 : 4;
            long headStride = _cache.MaxLength * _headDim * element; // [B, kvHeads, MaxLength, d]
            for (int b = 0; b < _batch; b++)
            {
                int position = length - padding[b];
                float* cos = _cos + (long)position * _headDim, sin = _sin + (long)position * _headDim;
                for (int head = 0; head < _heads; head++)
                {
                    float* q = _q + (long)b * qWidth + head * _headDim;
                    if (l.QNorm != 0) DecodeKernels.RmsNorm(q, (float*)l.QNorm, _eps, q, _headDim);
                    DecodeKernels.Rotate(q, cos, sin, _headDim);
                }
                for (int head = 0; head < _kvHeads; head++)
                {
                    float* k = _k + (long)b * kvWidth + head * _headDim;
                    if (l.KNorm != 0) DecodeKernels.RmsNorm(k, (float*)l.KNorm, _eps, k, _headDim);
                    DecodeKernels.Rotate(k, cos, sin, _headDim);
                    long slot = (b * _kvHeads + head) * headStride + (long)length * _headDim * element;
                    DecodeKernels.Store(k, keyData + slot, bf16Cache, _headDim);
                    DecodeKernels.Store(_v + (long)b * kvWidth + head * _headDim, valueData + slot, bf16Cache, _headDim);
                }
            }
            Attend(keyData, valueData, bf16Cache, headStride, length + 1, padding);
            Run(new Job(l.O, (nint)_attended, (nint)_o, _hidden, l.OBias));
            Add(_h, _o, _batch * _hidden);

            for (int b = 0; b < _batch; b++)
                DecodeKernels.RmsNorm(_h + (long)b * _hidden, (float*)l.PostAttentionNorm, _eps, _x + (long)b * _hidden, _hidden);
            Run(new Job(l.Gate, (nint)_x, (nint)_gate, _intermediate, l.GateBias),
                new Job(l.Up, (nint)_x, (nint)_up, _intermediate, l.UpBias));
            DecodeKernels.SiluTimes(_gate, _up, _batch * _intermediate);
            Run(new Job(l.Down, (nint)_gate, (nint)_down, _hidden, l.DownBias));
            Add(_h, _down, _batch * _hidden);
        }
        _cache.Advance(1);

        for (int b = 0; b < _batch; b++)
            DecodeKernels.RmsNorm(_h + (long)b * _hidden, (float*)_finalNorm, _eps, _x + (long)b * _hidden, _hidden);
        Run(new Job(_head, (nint)_x, (nint)_logitsData, _vocab, 0));
        return _logits;
    }

    public void Dispose()
    {
        _logits.Dispose();
        foreach (var block in _allocations) NativeMemory.AlignedFree((void*)block);
        _allocations.Clear();
    }

    /// <summary>Matrix-vector products of up to three matrices with the same input width, their rows split over the threads.</summary>
    private void Run(Job first, Job? second = null, Job? third = null)
    {
        _jobs[0] = first;
        _jobCount = 1;
        if (second is Job s) _jobs[_jobCount++] = s;
        if (third is Job t) _jobs[_jobCount++] = t;
        long rows = 0;
        for (int j = 0; j < _jobCount; j++) rows += _jobs[j].W.Rows;
        long work = rows * _jobs[0].W.Columns * _batch;
        int threads = work < 1 << 16 ? 1 : _threads;
        if (threads == 1) RunShare(0, 1, rows);
        else Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, part => RunShare(part, threads, rows));
    }

    private void RunShare(int part, int parts, long rows)
    {
        long start = rows * part / parts, end = rows * (part + 1) / parts, offset = 0;
        for (int j = 0; j < _jobCount; j++)
        {
            var job = _jobs[j];
            long from = Math.Max(start, offset), to = Math.Min(end, offset + job.W.Rows);
            if (from < to)
                DecodeKernels.MatVec(job.W, (float*)job.X, _batch, (float*)job.Y, job.YStride, (float*)job.Bias,
                                     (int)(from - offset), (int)(to - offset));
            offset += job.W.Rows;
        }
    }

    /// <summary>Every (row, head) pair's attention over positions [padding, length), split over the threads.</summary>
    private void Attend(byte* keys, byte* values, bool bf16, long headStride, int length, int[] padding)
    {
        int pairs = _batch * _heads, group = _heads / _kvHeads;
        long maxLength = _cache.MaxLength;
        void Pair(int index)
        {
            int b = index / _heads, head = index % _heads, kv = head / group;
            long cacheOffset = (b * _kvHeads + kv) * headStride;
            long at = (long)b * _heads * _headDim + head * _headDim;
            DecodeKernels.Attend(_q + at, keys + cacheOffset, values + cacheOffset, bf16, padding[b], length, _headDim, _scale,
                                 _scores + index * maxLength, _attended + at);
        }
        if (_threads == 1 || (long)pairs * length * _headDim < 1 << 16)
            for (int i = 0; i < pairs; i++) Pair(i);
        else
            Parallel.For(0, pairs, new ParallelOptions { MaxDegreeOfParallelism = _threads }, Pair);
    }

    private static void Add(float* target, float* addend, int n)
    {
        for (int i = 0; i < n; i++) target[i] += addend[i];
    }

    private static void RowOf(in WeightMatrix matrix, int row, float* destination)
    {
        int element = matrix.Bf16 ? 2 : 4;
        DecodeKernels.Load((byte*)matrix.Data + (long)row * matrix.Columns * element, matrix.Bf16, destination, matrix.Columns);
    }

    private float* Allocate(long floats)
    {
        var block = NativeMemory.AlignedAlloc((nuint)(Math.Max(1, floats) * sizeof(float)), 64);
        new Span<float>(block, (int)floats).Clear();
        _allocations.Add((nint)block);
        return (float*)block;
    }

    private static WeightMatrix Matrix(Tensor weight) =>
        new(DataPointer(weight), (int)weight.shape[0], (int)weight.shape[1], weight.dtype == ScalarType.BFloat16);

    /// <summary>A float32 copy of a small parameter (norm weights, biases), kept for the decoder's lifetime.</summary>
    private nint Vector(Tensor parameter)
    {
        int n = (int)parameter.numel();
        float* copy = Allocate(n);
        using var scope = NewDisposeScope();
        parameter.detach().to(ScalarType.Float32).contiguous().data<float>().CopyTo(new Span<float>(copy, n));
        return (nint)copy;
    }

    private static bool Readable(Tensor t) =>
        t.device_type == DeviceType.CPU && t.is_contiguous() && t.dtype is ScalarType.Float32 or ScalarType.BFloat16;

    /// <summary>The address of a contiguous CPU tensor's first element (libtorch's memory, which does not move).</summary>
    internal static void* DataPointer(Tensor t)
    {
        using var first = t.view(-1).narrow(0, 0, 1);
        fixed (byte* p = first.bytes) return p;
    }
}

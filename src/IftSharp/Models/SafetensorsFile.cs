using System.Text;
using System.Text.Json;
using IftSharp.Core;
using Microsoft.Win32.SafeHandles;
using TorchSharp;
using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>One tensor's entry in a safetensors header; offsets are relative to the end of the header.</summary>
public sealed record SafetensorsEntry(string Name, string Dtype, long[] Shape, long Begin, long End)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// Reads a <c>.safetensors</c> file (8-byte little-endian header length, JSON header, raw little-endian data).
/// Each tensor's bytes are read from the file straight into the destination tensor's memory in slices of
/// <see cref="ChunkBytes"/>, so loading a model costs the model's own memory and nothing more: no memory map whose
/// pages count as the process's memory, no second copy of the checkpoint, and when the file's dtype differs from the
/// destination's only one slice-sized buffer. The header is checked field by field: a bad entry is an input error
/// naming the file and the tensor.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    /// <summary>The float dtypes a model parameter can be read from.</summary>
    public static readonly string[] FloatDtypes = ["F32", "F16", "BF16", "F64"];

    /// <summary>Every dtype this reader reads: the float dtypes and, for tensors that are not weights, the integer ones.</summary>
    public static readonly string[] ReadableDtypes = ["F32", "F16", "BF16", "F64", "I64", "I32", "I8", "U8", "BOOL"];

    // The safetensors format itself caps the header at 100 MB.
    private const long MaxHeaderBytes = 100_000_000;

    private readonly SafeFileHandle handle;
    private readonly long dataStart;

    public SafetensorsFile(string path)
    {
        FilePath = path;
        if (!File.Exists(path)) throw new InputException($"{path}: safetensors file not found");
        handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            long length = RandomAccess.GetLength(handle);
            if (length < 8) throw new InputException($"{path}: not a safetensors file (too short: {length} bytes)");
            Span<byte> prefix = stackalloc byte[8];
            ReadExactly(0, prefix);
            long headerLength = BitConverter.ToInt64(prefix);
            if (headerLength <= 0 || headerLength > MaxHeaderBytes || 8 + headerLength > length)
                throw new InputException($"{path}: not a safetensors file (header length {headerLength} in a file of {length} bytes)");
            dataStart = 8 + headerLength;
            var header = new byte[headerLength];
            ReadExactly(8, header);
            (Entries, Metadata) = ParseHeader(path, Encoding.UTF8.GetString(header), length - dataStart);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public string FilePath { get; }

    public IReadOnlyDictionary<string, SafetensorsEntry> Entries { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Bytes read (and converted, and checked) at a time; also bounds the one conversion buffer.</summary>
    internal long ChunkBytes { get; init; } = 4L << 20;

    /// <summary>A new tensor with the stored dtype and shape.</summary>
    public Tensor Read(string name)
    {
        var entry = Entry(name);
        var result = empty(entry.Shape, ReadableType(entry));
        try { ReadInto(name, result); }
        catch { result.Dispose(); throw; }
        return result;
    }

    /// <summary>
    /// Throws an input error naming the file and the tensor unless <paramref name="name"/> can be read into a tensor of
    /// <paramref name="shape"/> and dtype <paramref name="destination"/>: the shape must match, a dtype this reader
    /// knows, and a float tensor for a float destination (an integer one is never widened into a weight).
    /// </summary>
    public void CheckReadableAs(string name, long[] shape, ScalarType destination)
    {
        var entry = Entry(name);
        var stored = ReadableType(entry);
        if (!entry.Shape.SequenceEqual(shape))
            throw new InputException($"{FilePath}: tensor '{name}' has shape [{string.Join(", ", entry.Shape)}], the model expects "
                + $"[{string.Join(", ", shape)}]");
        bool floatDestination = IsFloat(destination), floatStored = IsFloat(stored);
        if (floatDestination && !floatStored)
            throw new InputException($"{FilePath}: tensor '{name}' is stored as {entry.Dtype}, but the model's '{name}' is a float weight; "
                + $"expected one of {string.Join(", ", FloatDtypes)}");
        if (!floatDestination && floatStored)
            throw new InputException($"{FilePath}: tensor '{name}' is stored as {entry.Dtype}, but the model expects "
                + $"{DtypeNameOf(destination)}");
    }

    /// <summary>
    /// Reads the stored tensor into <paramref name="destination"/> (same shape), converting the dtype if needed. Float
    /// tensors must hold only finite values: a NaN or infinity is an input error naming the tensor, never a silent load.
    /// </summary>
    public void ReadInto(string name, Tensor destination)
    {
        CheckReadableAs(name, destination.shape, destination.dtype);
        var entry = Entry(name);
        var stored = ReadableType(entry);
        using var _ = no_grad();
        if (!destination.is_contiguous() || destination.device_type != DeviceType.CPU)
        {
            using var staging = empty(entry.Shape, destination.dtype);
            ReadInto(name, staging);
            destination.copy_(staging);
            return;
        }
        long total = destination.numel();
        if (total == 0) return;
        long storedSize = ElementSize(stored), destinationSize = destination.ElementSize;
        long chunkElements = Math.Max(1, ChunkBytes / Math.Max(storedSize, destinationSize));
        bool convert = stored != destination.dtype, checkFinite = IsFloat(destination.dtype);
        using var flat = destination.view(-1);
        using var buffer = convert ? empty(Math.Min(chunkElements, total), stored) : null;
        for (long start = 0; start < total; start += chunkElements)
        {
            long count = Math.Min(chunkElements, total - start);
            using var slice = flat.narrow(0, start, count);
            long offset = dataStart + entry.Begin + start * storedSize;
            if (buffer is null) ReadExactly(offset, slice.bytes);
            else
            {
                using var part = buffer.narrow(0, 0, count);
                ReadExactly(offset, part.bytes);
                slice.copy_(part);
            }
            if (checkFinite && !AllFinite(slice))
            {
                using var bad = slice.isfinite().logical_not().sum();
                throw new InputException($"{FilePath}: tensor '{name}' holds non-finite values (NaN or infinity; {bad.item<long>()} "
                    + $"among its elements {start}..{start + count - 1}); the checkpoint is corrupt or was saved from a diverged run");
            }
        }
    }

    private static bool AllFinite(Tensor slice)
    {
        // One vectorised pass: the sum is non-finite whenever an element is (float16 sums in float32: its range ends at 65504).
        using (var sum = slice.dtype == ScalarType.Float16 ? slice.sum(ScalarType.Float32) : slice.sum())
        using (var value = sum.to(ScalarType.Float64))
            if (double.IsFinite(value.item<double>())) return true;
        // Large finite values can also overflow a sum; only an element-wise check tells them apart.
        using var finite = slice.isfinite().all();
        return finite.item<bool>();
    }

    private void ReadExactly(long offset, Span<byte> destination)
    {
        int done = 0;
        while (done < destination.Length)
        {
            int read = RandomAccess.Read(handle, destination[done..], offset + done);
            if (read == 0) throw new InputException($"{FilePath}: file ends at byte {offset + done}; it is truncated");
            done += read;
        }
    }

    private SafetensorsEntry Entry(string name) =>
        Entries.TryGetValue(name, out var entry) ? entry : throw new InputException($"{FilePath}: no tensor named '{name}'");

    private ScalarType ReadableType(SafetensorsEntry entry) => TryScalarTypeOf(entry.Dtype) ?? throw new InputException(
        $"{FilePath}: tensor '{entry.Name}' has dtype {entry.Dtype}, which IftSharp cannot read; supported dtypes: "
        + $"{string.Join(", ", FloatDtypes)} for weights ({string.Join(", ", ReadableDtypes.Except(FloatDtypes))} for other tensors)");

    public static ScalarType ScalarTypeOf(string dtype) => TryScalarTypeOf(dtype)
        ?? throw new InputException($"safetensors dtype '{dtype}' is not supported; expected one of {string.Join(", ", ReadableDtypes)}");

    private static ScalarType? TryScalarTypeOf(string dtype) => dtype switch
    {
        "F32" => ScalarType.Float32,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        "F64" => ScalarType.Float64,
        "I64" => ScalarType.Int64,
        "I32" => ScalarType.Int32,
        "I8" => ScalarType.Int8,
        "U8" => ScalarType.Byte,
        "BOOL" => ScalarType.Bool,
        _ => null,
    };

    private static bool IsFloat(ScalarType type) =>
        type is ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64;

    private static long ElementSize(ScalarType type) => type switch
    {
        ScalarType.Float64 or ScalarType.Int64 => 8,
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 => 2,
        _ => 1,
    };

    /// <summary>Bytes per element of every dtype the safetensors format defines (to check entries this reader cannot read too).</summary>
    private static long? FormatElementSize(string dtype) => dtype switch
    {
        "F64" or "I64" or "U64" => 8,
        "F32" or "I32" or "U32" => 4,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "F8_E4M3" or "F8_E5M2" or "I8" or "U8" or "BOOL" => 1,
        _ => null,
    };

    public static string DtypeNameOf(ScalarType type) => type switch
    {
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Float64 => "F64",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Int8 => "I8",
        ScalarType.Byte => "U8",
        ScalarType.Bool => "BOOL",
        _ => throw new ArgumentException($"dtype {type} cannot be written to safetensors"),
    };

    private static (Dictionary<string, SafetensorsEntry>, Dictionary<string, string>) ParseHeader(string path, string header,
        long dataLength)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(header); }
        catch (JsonException e) { throw new InputException($"{path}: bad safetensors header: not valid JSON ({e.Message})"); }
        using var _ = document;
        if (document.RootElement.ValueKind != JsonValueKind.Object)
            throw new InputException($"{path}: bad safetensors header: expected a JSON object, got {document.RootElement.ValueKind}");
        var entries = new Dictionary<string, SafetensorsEntry>();
        var metadata = new Dictionary<string, string>();
        foreach (var property in document.RootElement.EnumerateObject())
        {
            var name = property.Name;
            var value = property.Value;
            if (name == "__metadata__")
            {
                if (value.ValueKind != JsonValueKind.Object)
                    throw new InputException($"{path}: bad safetensors header: '__metadata__' must be an object of strings");
                foreach (var m in value.EnumerateObject())
                    metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                continue;
            }
            InputException Bad(string field, string problem) => new($"{path}: tensor '{name}': '{field}' {problem}");
            if (value.ValueKind != JsonValueKind.Object)
                throw new InputException($"{path}: tensor '{name}': expected an object with dtype, shape and data_offsets, got "
                    + $"{value.ValueKind}");
            if (!value.TryGetProperty("dtype", out var dtypeElement)) throw Bad("dtype", "is missing; expected a string such as \"BF16\"");
            if (dtypeElement.ValueKind != JsonValueKind.String) throw Bad("dtype",
                $"must be a string such as \"BF16\", got {dtypeElement.GetRawText()}");
            var dtype = dtypeElement.GetString()!;
            var shape = Integers(value, "shape", Bad);
            if (shape.Any(d => d < 0)) throw Bad("shape", $"has a negative dimension: [{string.Join(", ", shape)}]");
            var offsets = Integers(value, "data_offsets", Bad);
            if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLength)
                throw Bad("data_offsets", $"[{string.Join(", ", offsets)}] lies outside the {dataLength} data bytes");
            var entry = new SafetensorsEntry(name, dtype, shape, offsets[0], offsets[1]);
            if (FormatElementSize(dtype) is not long size)
                throw Bad("dtype", $"\"{dtype}\" is not a safetensors dtype");
            long needed = checked(entry.ElementCount * size);
            if (offsets[1] - offsets[0] != needed)
                throw Bad("data_offsets", $"span {offsets[1] - offsets[0]} bytes, but {dtype} [{string.Join(", ", shape)}] needs {needed}");
            entries[name] = entry;
        }
        return (entries, metadata);
    }

    private static long[] Integers(JsonElement value, string field, Func<string, string, InputException> bad)
    {
        if (!value.TryGetProperty(field, out var element)) throw bad(field, "is missing; expected a list of integers");
        if (element.ValueKind != JsonValueKind.Array) throw bad(field, $"must be a list of integers, got {element.GetRawText()}");
        var result = new List<long>();
        foreach (var item in element.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out var number))
                throw bad(field, $"must be a list of integers, got {element.GetRawText()}");
            result.Add(number);
        }
        return result.ToArray();
    }

    public void Dispose() => handle.Dispose();
}

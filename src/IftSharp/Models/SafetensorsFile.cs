using System.IO.MemoryMappedFiles;
using System.Text;
using System.Text.Json;
using IftSharp.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>One tensor's entry in a safetensors header; offsets are relative to the end of the header.</summary>
public sealed record SafetensorsEntry(string Name, string Dtype, long[] Shape, long Begin, long End);

/// <summary>
/// Reads a <c>.safetensors</c> file (8-byte little-endian header length, JSON header, raw little-endian data).
/// The file is memory-mapped and each tensor's bytes are copied straight from the mapping into the destination
/// tensor's storage, so loading needs no second copy of the checkpoint in memory (only one temporary tensor when
/// the file's dtype differs from the destination's).
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private readonly MemoryMappedFile map;
    private readonly MemoryMappedViewAccessor view;
    private readonly byte* basePointer;
    private readonly long dataStart;

    public SafetensorsFile(string path)
    {
        Path_ = path;
        if (!File.Exists(path)) throw new InputException($"{path}: safetensors file not found");
        long length = new FileInfo(path).Length;
        if (length < 8) throw new InputException($"{path}: not a safetensors file (too short)");
        map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        byte* pointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        basePointer = pointer + view.PointerOffset;
        long headerLength = BitConverter.ToInt64(new ReadOnlySpan<byte>(basePointer, 8));
        if (headerLength <= 0 || 8 + headerLength > length)
        {
            Dispose();
            throw new InputException($"{path}: not a safetensors file (header length {headerLength})");
        }
        dataStart = 8 + headerLength;
        var header = Encoding.UTF8.GetString(new ReadOnlySpan<byte>(basePointer + 8, checked((int)headerLength)));
        try { (Entries, Metadata) = ParseHeader(header, length - dataStart); }
        catch (Exception e) when (e is JsonException or InvalidDataException)
        {
            Dispose();
            throw new InputException($"{path}: bad safetensors header: {e.Message}", e);
        }
    }

    private string Path_ { get; }

    public IReadOnlyDictionary<string, SafetensorsEntry> Entries { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>A new tensor with the stored dtype and shape.</summary>
    public Tensor Read(string name)
    {
        var entry = Entry(name);
        var result = empty(entry.Shape, ScalarTypeOf(entry.Dtype));
        CopyRaw(entry, result);
        return result;
    }

    /// <summary>Copies the stored tensor into <paramref name="destination"/> (same shape), converting dtype if needed.</summary>
    public void ReadInto(string name, Tensor destination)
    {
        var entry = Entry(name);
        if (!entry.Shape.SequenceEqual(destination.shape))
            throw new InputException($"{Path_}: tensor '{name}' has shape [{string.Join(", ", entry.Shape)}], the model expects [{string.Join(", ", destination.shape)}]");
        var stored = ScalarTypeOf(entry.Dtype);
        using var _ = no_grad();
        if (stored == destination.dtype && destination.is_contiguous() && destination.device_type == DeviceType.CPU)
        {
            CopyRaw(entry, destination);
            return;
        }
        using var temporary = empty(entry.Shape, stored);
        CopyRaw(entry, temporary);
        destination.copy_(temporary);
    }

    /// <summary>Span&lt;byte&gt; is limited to 2 GiB, so larger tensors are copied in slices of this many bytes.</summary>
    internal long ChunkBytes { get; init; } = 1L << 30;

    private void CopyRaw(SafetensorsEntry entry, Tensor destination)
    {
        long bytes = entry.End - entry.Begin;
        long elementSize = destination.ElementSize;
        long expected = destination.numel() * elementSize;
        if (bytes != expected)
            throw new InputException($"{Path_}: tensor '{entry.Name}' holds {bytes} bytes, {entry.Dtype} [{string.Join(", ", entry.Shape)}] needs {expected}");
        if (bytes == 0) return;
        byte* source = basePointer + dataStart + entry.Begin;
        if (bytes <= ChunkBytes)
        {
            destination.bytes = new Span<byte>(source, (int)bytes);
            return;
        }
        using var flat = destination.view(-1);
        long chunkElements = Math.Max(1, ChunkBytes / elementSize), total = destination.numel();
        for (long start = 0; start < total; start += chunkElements)
        {
            long count = Math.Min(chunkElements, total - start);
            using var slice = flat.narrow(0, start, count);
            slice.bytes = new Span<byte>(source + start * elementSize, checked((int)(count * elementSize)));
        }
    }

    private SafetensorsEntry Entry(string name) =>
        Entries.TryGetValue(name, out var entry) ? entry : throw new InputException($"{Path_}: no tensor named '{name}'");

    public static ScalarType ScalarTypeOf(string dtype) => dtype switch
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
        _ => throw new InputException($"safetensors dtype '{dtype}' is not supported; expected F32, F16, BF16, F64, I64, I32, I8, U8 or BOOL"),
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

    private static (Dictionary<string, SafetensorsEntry>, Dictionary<string, string>) ParseHeader(string header, long dataLength)
    {
        using var document = JsonDocument.Parse(header);
        var entries = new Dictionary<string, SafetensorsEntry>();
        var metadata = new Dictionary<string, string>();
        foreach (var property in document.RootElement.EnumerateObject())
        {
            if (property.Name == "__metadata__")
            {
                foreach (var m in property.Value.EnumerateObject()) metadata[m.Name] = m.Value.GetString() ?? "";
                continue;
            }
            var value = property.Value;
            var dtype = value.GetProperty("dtype").GetString() ?? throw new InvalidDataException($"'{property.Name}': missing dtype");
            var shape = value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var offsets = value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLength)
                throw new InvalidDataException($"'{property.Name}': data_offsets [{string.Join(", ", offsets)}] outside the {dataLength} data bytes");
            entries[property.Name] = new SafetensorsEntry(property.Name, dtype, shape, offsets[0], offsets[1]);
        }
        return (entries, metadata);
    }

    public void Dispose()
    {
        view.SafeMemoryMappedViewHandle.ReleasePointer();
        view.Dispose();
        map.Dispose();
    }
}

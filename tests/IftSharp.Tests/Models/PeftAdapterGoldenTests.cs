using System.Text.Json;
using System.Text.Json.Nodes;
using IftSharp.Cli.Commands;
using IftSharp.Core;
using IftSharp.Models;
using IftSharp.Models.Lora;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Models;

/// <summary>
/// LoRA in PEFT's format against an independent source: adapter folders written in PEFT's layout by
/// Fixtures/tools/make_lora_fixtures.py (PEFT's config keys, weight names and shapes, written by hand from PEFT's
/// source), the logits of that script's float64 PyTorch forward of base + LoRA, and its merge. tiny-llama3-lora: every
/// projection of the float32 Llama-3-style fixture, r 4, alpha 8, float32 adapter. tiny-qwen2-lora: q, v and down of the
/// bfloat16 Qwen2-style fixture (q/k/v biases), r 2, alpha 3, rsLoRA, adapter weights stored in bfloat16.
/// </summary>
public class PeftAdapterGoldenTests
{
    private static string Dir(string name) => TinyModels.FixtureDirectory(name);

    private static (Tensor Ids, Tensor Mask, float[][][] Logits, float[][][] BaseLogits) Expected(string adapter)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir(adapter), "expected.json")));
        var root = doc.RootElement;
        Tensor Matrix(string name)
        {
            var rows = root.GetProperty(name).EnumerateArray()
                .Select(r => r.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray();
            return tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, rows[0].Length]);
        }
        float[][][] Logits(string name) => root.GetProperty(name).EnumerateArray()
            .Select(s => s.EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray()).ToArray();
        return (Matrix("input_ids"), Matrix("attention_mask"), Logits("logits"), Logits("base_logits"));
    }

    /// <summary>Largest |Δ| over the real (unpadded) positions; also counts them.</summary>
    private static (double Worst, int Compared) Compare(Tensor logits, Tensor mask, float[][][] expected)
    {
        double worst = 0;
        int compared = 0;
        for (int b = 0; b < expected.Length; b++)
            for (int t = 0; t < expected[b].Length; t++)
            {
                if (mask[b, t].item<long>() == 0) continue;
                var actual = logits[b, t].to(ScalarType.Float32).data<float>().ToArray();
                for (int v = 0; v < actual.Length; v++) worst = Math.Max(worst, Math.Abs(actual[v] - expected[b][t][v]));
                compared++;
            }
        return (worst, compared);
    }

    [Theory]
    [InlineData("tiny-llama3", "tiny-llama3-lora", 14, 28)]
    [InlineData("tiny-qwen2", "tiny-qwen2-lora", 6, 12)]
    public void AnAdapterFolderLoadsAndGivesTheReferenceLogits(string baseName, string adapterName, int perLayer, int total)
    {
        using var scope = NewDisposeScope();
        using var model = LlamaForCausalLM.FromPretrained(Dir(baseName), ScalarType.Float32);
        var adapter = PeftAdapter.Load(model, Dir(adapterName));
        model.eval(); // tiny-llama3-lora has dropout 0.05, drawn in training mode only
        Assert.Same(adapter, model.Lora);
        Assert.Equal(total, 2 * adapter.Modules.Count);
        Assert.Equal(perLayer, 2 * adapter.Modules.Count(m => m.Path.StartsWith("model.layers.0.", StringComparison.Ordinal)));
        var (ids, mask, logits, baseLogits) = Expected(adapterName);
        using var _ = no_grad();
        var (worst, compared) = Compare(model.Forward(ids, mask), mask, logits);
        Assert.Equal(14, compared);
        Assert.True(worst <= 1e-4, $"with the adapter: max |Δlogit| = {worst}");
        using (adapter.Disabled())
        {
            var (worstBase, _) = Compare(model.Forward(ids, mask), mask, baseLogits);
            Assert.True(worstBase <= 1e-4, $"adapter disabled: max |Δlogit| = {worstBase} against the base model");
        }
        Assert.True(adapter.Enabled);
    }

    [Fact]
    public void ConfigSettingsAreReadAsPeftWroteThem()
    {
        var llama = PeftAdapter.ReadConfig(Dir("tiny-llama3-lora"));
        Assert.Equal((4, 8.0, 0.05, false), (llama.R, llama.LoraAlpha, llama.Dropout, llama.UseRslora));
        Assert.Equal(2.0, llama.Scaling);
        var qwen = PeftAdapter.ReadConfig(Dir("tiny-qwen2-lora"));
        Assert.Equal((2, 3.0, true), (qwen.R, qwen.LoraAlpha, qwen.UseRslora));
        Assert.Equal(3 / Math.Sqrt(2), qwen.Scaling, 15);
        Assert.Equal(["down_proj", "q_proj", "v_proj"], qwen.TargetModules);
    }

    [Fact]
    public void WhatIftSharpWritesHasPeftsKeysNamesShapesAndConfigText()
    {
        // The same settings as the fixture's: IftSharp's adapter_config.json must be the text Python's json.dumps wrote,
        // and its safetensors must hold the same names with the same dtypes and shapes.
        using var model = LlamaForCausalLM.FromPretrained(Dir("tiny-llama3"));
        var config = LoraConfig.FromOptions(r: 4, dropout: 0.05, targets: LoraConfig.AllLinear);
        Assert.Equal(8.0, config.LoraAlpha); // 2r by default
        var adapter = LoraAdapter.Inject(model, config, seed: 3);
        var dir = TinyModels.TempDirectory();
        try
        {
            adapter.Save(dir, "tiny-llama3");
            Assert.Equal(File.ReadAllText(Path.Combine(Dir("tiny-llama3-lora"), PeftAdapter.ConfigFileName)),
                File.ReadAllText(Path.Combine(dir, PeftAdapter.ConfigFileName)));
            using var ours = new SafetensorsFile(Path.Combine(dir, PeftAdapter.WeightsFileName));
            using var theirs = new SafetensorsFile(Path.Combine(Dir("tiny-llama3-lora"), PeftAdapter.WeightsFileName));
            string Describe(SafetensorsEntry e) => $"{e.Name} {e.Dtype} [{string.Join(", ", e.Shape)}]";
            var written = ours.Entries.Values.Select(Describe).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(theirs.Entries.Values.Select(Describe).Order(StringComparer.Ordinal), written);
            Assert.Contains("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight F32 [48, 4]", written);
            Assert.Contains("base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight F32 [4, 48]", written);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void SaveThenLoadGivesTheSameWeightsAndLogits()
    {
        using var scope = NewDisposeScope();
        using var model = LlamaForCausalLM.FromPretrained(Dir("tiny-qwen2"));
        var adapter = PeftAdapter.Load(model, Dir("tiny-qwen2-lora"));
        var ids = tensor(new long[] { 5, 9, 33, 70, 12 }, [1, 5]);
        Tensor before;
        using (no_grad()) before = model.Forward(ids);
        var dir = TinyModels.TempDirectory();
        try
        {
            adapter.Save(dir, "tiny-qwen2");
            var written = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, PeftAdapter.ConfigFileName)))!;
            Assert.Equal("[\"down_proj\",\"q_proj\",\"v_proj\"]", written["target_modules"]!.ToJsonString());
            Assert.True(written["use_rslora"]!.GetValue<bool>());
            using var again = LlamaForCausalLM.FromPretrained(Dir("tiny-qwen2"));
            var reloaded = PeftAdapter.Load(again, dir);
            var a = adapter.PeftStateDict();
            var b = reloaded.PeftStateDict();
            Assert.Equal(a.Select(p => p.Key), b.Select(p => p.Key));
            foreach (var ((_, x), (_, y)) in a.Zip(b)) Assert.True(x.eq(y).all().item<bool>());
            using var _ = no_grad();
            Assert.True(before.eq(again.Forward(ids)).all().item<bool>());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData("tiny-llama3", "tiny-llama3-lora")]
    [InlineData("tiny-qwen2", "tiny-qwen2-lora")]
    public void MergeCommandWritesTheReferenceMergedWeights(string baseName, string adapterName)
    {
        var output = TinyModels.TempDirectory();
        try
        {
            var root = new System.CommandLine.RootCommand();
            foreach (var c in CommandCatalog.All()) root.Subcommands.Add(c);
            Assert.Equal(0, root.Parse(["merge", "--model", Dir(baseName), "--adapter", Dir(adapterName), "--output", output]).Invoke());
            using var merged = new SafetensorsFile(Path.Combine(output, SafetensorsCheckpoint.SingleFileName));
            using var original = new SafetensorsFile(Path.Combine(Dir(baseName), SafetensorsCheckpoint.SingleFileName));
            using var reference = new SafetensorsFile(Path.Combine(Dir(adapterName), "merged.safetensors"));
            Assert.Equal(original.Entries.Keys.Order(), merged.Entries.Keys.Order());
            using var scope = NewDisposeScope();
            int changed = 0;
            foreach (var name in original.Entries.Keys)
            {
                var actual = merged.Read(name);
                Assert.Equal(original.Entries[name].Dtype, merged.Entries[name].Dtype); // the base's dtype is kept
                if (!reference.Entries.ContainsKey(name))
                {
                    Assert.True(actual.eq(original.Read(name)).all().item<bool>(), $"{name} is not adapted and must be unchanged");
                    continue;
                }
                changed++;
                var expected = reference.Read(name);
                Assert.False(expected.eq(original.Read(name)).all().item<bool>(), $"{name}: the merge must change it");
                if (actual.dtype == ScalarType.Float32)
                    Assert.True((actual - expected).abs().max().item<float>() <= 1e-6f * expected.abs().max().item<float>(), name);
                else
                {
                    // bfloat16: both round the same float32 sum once; a product summed in another order may land one ulp away.
                    var ulp = expected.to(ScalarType.Float32).abs().AtLeast(1e-30).Times(1.0 / 128);
                    Assert.True((actual.to(ScalarType.Float32) - expected.to(ScalarType.Float32)).abs().le(ulp).all().item<bool>(), name);
                    double equal = actual.eq(expected).to(ScalarType.Float32).mean().item<float>();
                    Assert.True(equal >= 0.99, $"{name}: {equal:P1} of the elements bit-equal");
                }
            }
            Assert.Equal(reference.Entries.Count, changed);
            Assert.True(File.Exists(Path.Combine(output, "config.json")));
        }
        finally { Directory.Delete(output, true); }
    }
}

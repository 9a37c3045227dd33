using IftSharp.Core;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using Xunit;

namespace IftSharp.Tests.Tokenization;

/// <summary>A broken tokenizer file is an input error naming the file, never an internal one.</summary>
public class TokenizerLoaderErrorTests
{
    [Theory]
    [InlineData("tokenizer.json", "")]
    [InlineData("tokenizer.json", "{\"model\": {\"type\": \"BPE\"")]
    [InlineData("tokenizer_config.json", "{\"chat_template\": ")]
    public void ATruncatedOrEmptyFileNamesItself(string file, string content)
    {
        var dir = Temp.Directory("tokenizer-broken");
        try
        {
            new ByteLevelTokenizer().Save(dir);
            File.WriteAllText(Path.Combine(dir, file), content);
            var e = Assert.Throws<InputException>(() => TokenizerLoader.Load(dir));
            Assert.Contains(Path.Combine(dir, file), e.Message);
            Assert.Contains("not valid JSON", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}

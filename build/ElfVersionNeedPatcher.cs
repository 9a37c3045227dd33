// Marks selected ELF symbol-version needs (Vernaux entries of .gnu.version_r) as weak
// (VER_FLG_WEAK), so the dynamic loader accepts the library even when the system's
// libstdc++ lacks that version. libLibTorchSharp.so from TorchSharp-cpu 0.107.0 asks for
// GLIBCXX_3.4.32 for one symbol it never calls; Debian 12 stops at 3.4.30.
//
// Kept to netstandard2.0 APIs: MSBuild compiles inline tasks against it.
// This file is compiled twice: as an inline MSBuild task (RoslynCodeTaskFactory, see
// TorchSharpNative.targets) and, with ELF_PATCHER_NO_MSBUILD defined, into the tests.
// `patchelf --clear-symbol-version` is not enough (the need itself still fails), and
// patchelf is not on a fresh machine anyway, hence this hand-written patcher.
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace IftSharp.Build
{
    public static class ElfVersionNeedPatcher
    {
        public const ushort VerFlagWeak = 0x2;
        private const uint ShtGnuVerneed = 0x6ffffffe;

        /// <summary>Result of a patch attempt: the version names found needed, and those newly marked weak.</summary>
        public sealed class Outcome
        {
            public List<string> Needed { get; } = new List<string>();
            public List<string> MarkedWeak { get; } = new List<string>();
            public List<string> AlreadyWeak { get; } = new List<string>();
        }

        /// <summary>Patches the file in place (written through a temporary file and renamed). Idempotent.</summary>
        public static Outcome PatchFile(string path, ICollection<string> versions)
        {
            byte[] image = File.ReadAllBytes(path);
            Outcome outcome = Patch(image, versions);
            if (outcome.MarkedWeak.Count > 0)
            {
                string temp = path + ".weakpatch.tmp";
                File.WriteAllBytes(temp, image);
                File.Replace(temp, path, null); // rename over the original: never a half-written library
            }
            return outcome;
        }

        /// <summary>Patches an ELF64 little-endian image in memory.</summary>
        public static Outcome Patch(byte[] image, ICollection<string> versions)
        {
            var outcome = new Outcome();
            if (image.Length < 64 || image[0] != 0x7f || image[1] != (byte)'E' || image[2] != (byte)'L' || image[3] != (byte)'F')
                throw new InvalidDataException("not an ELF file");
            if (image[4] != 2 || image[5] != 1)
                throw new InvalidDataException("only 64-bit little-endian ELF is supported");

            ulong shoff = BitConverter.ToUInt64(image, 0x28);
            int shentsize = BitConverter.ToUInt16(image, 0x3A);
            int shnum = BitConverter.ToUInt16(image, 0x3C);
            for (int i = 0; i < shnum; i++)
            {
                int sh = checked((int)shoff + i * shentsize);
                uint type = BitConverter.ToUInt32(image, sh + 4);
                if (type != ShtGnuVerneed) continue;
                int offset = checked((int)BitConverter.ToUInt64(image, sh + 0x18));
                int link = (int)BitConverter.ToUInt32(image, sh + 0x28);
                int count = (int)BitConverter.ToUInt32(image, sh + 0x2C); // sh_info: number of Verneed entries
                int strtabHeader = checked((int)shoff + link * shentsize);
                int strtab = checked((int)BitConverter.ToUInt64(image, strtabHeader + 0x18));

                int vn = offset;
                for (int n = 0; n < count; n++)
                {
                    int auxCount = BitConverter.ToUInt16(image, vn + 2);
                    int aux = vn + (int)BitConverter.ToUInt32(image, vn + 8);
                    for (int a = 0; a < auxCount; a++)
                    {
                        ushort flags = BitConverter.ToUInt16(image, aux + 4);
                        string name = ReadString(image, strtab + (int)BitConverter.ToUInt32(image, aux + 8));
                        if (versions.Contains(name))
                        {
                            outcome.Needed.Add(name);
                            if ((flags & VerFlagWeak) != 0) outcome.AlreadyWeak.Add(name);
                            else
                            {
                                ushort weak = (ushort)(flags | VerFlagWeak);
                                image[aux + 4] = (byte)(weak & 0xff);
                                image[aux + 5] = (byte)(weak >> 8);
                                outcome.MarkedWeak.Add(name);
                            }
                        }
                        uint nextAux = BitConverter.ToUInt32(image, aux + 12);
                        if (nextAux == 0) break;
                        aux += (int)nextAux;
                    }
                    uint next = BitConverter.ToUInt32(image, vn + 12);
                    if (next == 0) break;
                    vn += (int)next;
                }
            }
            return outcome;
        }

        private static string ReadString(byte[] image, int start)
        {
            int end = start;
            while (end < image.Length && image[end] != 0) end++;
            return Encoding.ASCII.GetString(image, start, end - start);
        }
    }

#if !ELF_PATCHER_NO_MSBUILD
    /// <summary>MSBuild entry point: patches every listed file that exists.</summary>
    public sealed class MarkElfVersionNeedsWeak : Microsoft.Build.Utilities.Task
    {
        [Microsoft.Build.Framework.Required]
        public Microsoft.Build.Framework.ITaskItem[] Files { get; set; } = Array.Empty<Microsoft.Build.Framework.ITaskItem>();

        [Microsoft.Build.Framework.Required]
        public string Versions { get; set; } = "";

        public override bool Execute()
        {
            var versions = new HashSet<string>(Versions.Split(new[] { ';', ',' }, StringSplitOptions.RemoveEmptyEntries));
            foreach (var item in Files)
            {
                string path = item.ItemSpec;
                if (!File.Exists(path)) continue;
                var outcome = ElfVersionNeedPatcher.PatchFile(path, versions);
                if (outcome.MarkedWeak.Count > 0)
                    Log.LogMessage(Microsoft.Build.Framework.MessageImportance.High,
                        "IftSharp: marked {0} weak in {1}", string.Join(", ", outcome.MarkedWeak), path);
            }
            return !Log.HasLoggedErrors;
        }
    }
#endif
}

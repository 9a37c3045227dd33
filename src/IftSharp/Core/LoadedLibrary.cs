using System.Runtime.InteropServices;
using System.Text;

namespace IftSharp.Core;

/// <summary>
/// A shared library already loaded into this process, read through the dynamic linker's own records (glibc's
/// <c>dlopen(RTLD_NOLOAD)</c>, <c>dlinfo(RTLD_DI_LINKMAP)</c>): its load address, its dynamic section, and the
/// procedure-linkage slots through which it calls functions by name. Linux x86-64 and glibc only.
/// </summary>
internal sealed unsafe class LoadedLibrary
{
    private const int RtldLazy = 0x1, RtldNoLoad = 0x4, RtldDiLinkMap = 2;
    private const long DtNull = 0, DtPltRelSize = 2, DtStrTab = 5, DtSymTab = 6, DtPltRel = 20, DtJmpRel = 23, DtRela = 7;
    private const uint RX86_64JumpSlot = 7;

    private readonly nint _handle;
    private readonly nuint _loadBias;
    private readonly long* _dynamic;

    private LoadedLibrary(string name, nint handle, nuint loadBias, long* dynamic)
    {
        Name = name;
        _handle = handle;
        _loadBias = loadBias;
        _dynamic = dynamic;
    }

    /// <summary>The name it was looked up by.</summary>
    public string Name { get; }

    /// <summary>The library if it is loaded already (matched by file name or soname), without loading it.</summary>
    public static LoadedLibrary? Find(string soname)
    {
        nint handle = Native.dlopen(soname, RtldLazy | RtldNoLoad);
        if (handle == 0) return null;
        if (Native.dlinfo(handle, RtldDiLinkMap, out var linkMap) != 0 || linkMap == 0) return null;
        // struct link_map { ElfW(Addr) l_addr; char *l_name; ElfW(Dyn) *l_ld; ... } (stable ABI, <link.h>)
        var map = (nuint*)linkMap;
        return new LoadedLibrary(soname, handle, map[0], (long*)map[2]);
    }

    /// <summary>The address of the library's own definition of <paramref name="symbol"/> (0 if it has none).</summary>
    public nint Definition(string symbol) => Native.dlsym(_handle, symbol);

    /// <summary>
    /// The address of the global-offset-table slot through which the library's calls to <paramref name="symbol"/>
    /// jump (its <c>R_X86_64_JUMP_SLOT</c> relocation in <c>.rela.plt</c>), or null when it has none.
    /// </summary>
    public nint* JumpSlot(string symbol)
    {
        long jmpRel = 0, pltRelSize = 0, symTab = 0, strTab = 0, pltRel = DtRela;
        for (long* entry = _dynamic; entry[0] != DtNull; entry += 2)
        {
            switch (entry[0])
            {
                case DtJmpRel: jmpRel = entry[1]; break;
                case DtPltRelSize: pltRelSize = entry[1]; break;
                case DtSymTab: symTab = entry[1]; break;
                case DtStrTab: strTab = entry[1]; break;
                case DtPltRel: pltRel = entry[1]; break;
            }
        }
        if (jmpRel == 0 || symTab == 0 || strTab == 0 || pltRel != DtRela) return null;
        // glibc rewrites these entries to absolute addresses when it loads the library; other loaders leave them
        // relative to the load address, which is always far above the offsets of a mapped image.
        var relocations = (long*)Absolute(jmpRel);
        var symbols = (byte*)Absolute(symTab);
        var strings = (byte*)Absolute(strTab);
        var wanted = Encoding.ASCII.GetBytes(symbol);
        for (long i = 0, count = pltRelSize / 24; i < count; i++)
        {
            // Elf64_Rela { r_offset; r_info (symbol << 32 | type); r_addend }
            long offset = relocations[3 * i], info = relocations[3 * i + 1];
            if ((uint)info != RX86_64JumpSlot) continue;
            // Elf64_Sym is 24 bytes; st_name, its first field, is an offset into the string table
            uint nameOffset = *(uint*)(symbols + 24 * (info >>> 32));
            if (NameEquals(strings + nameOffset, wanted)) return (nint*)(_loadBias + (nuint)offset);
        }
        return null;
    }

    /// <summary>Whether <paramref name="address"/> lies inside this library's mapped image.</summary>
    public bool Contains(nint address) => Native.dladdr(address, out var info) != 0 && info.FileBase == (nint)_loadBias;

    private nuint Absolute(long pointer) => (nuint)pointer < _loadBias ? _loadBias + (nuint)pointer : (nuint)pointer;

    private static bool NameEquals(byte* name, byte[] wanted)
    {
        for (int i = 0; i < wanted.Length; i++)
            if (name[i] != wanted[i]) return false;
        return name[wanted.Length] == 0;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct DlInfo
    {
        public nint FileName, FileBase, SymbolName, SymbolAddress;
    }

    private static class Native
    {
        [DllImport(Glibc.Library, CharSet = CharSet.Ansi, BestFitMapping = false)]
        public static extern nint dlopen(string file, int mode);

        [DllImport(Glibc.Library)]
        public static extern int dlinfo(nint handle, int request, out nint info);

        [DllImport(Glibc.Library, CharSet = CharSet.Ansi, BestFitMapping = false)]
        public static extern nint dlsym(nint handle, string symbol);

        [DllImport(Glibc.Library)]
        public static extern int dladdr(nint address, out DlInfo info);
    }
}

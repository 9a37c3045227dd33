using Xunit;

namespace IftSharp.Tests.Support;

/// <summary>
/// Tests that draw from libtorch's global generator after seeding it (dropout has no generator argument): xUnit runs test
/// classes in parallel, and another class drawing in between would change the draw. Classes in this collection run
/// alone.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GlobalRandomCollection
{
    public const string Name = "libtorch's global generator";
}

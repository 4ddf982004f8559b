// Unreal build rules for the Asobi SDK plugin: the UObject layer over the engine-free C++
// wrapper (Public/AsobiClient.hpp) and libasobi, staged per platform from
// ThirdParty/libasobi/<Platform>/ (bindings/unreal/stage puts them there).
using System.IO;
using UnrealBuildTool;

public class AsobiSDK : ModuleRules
{
    public AsobiSDK(ReadOnlyTargetRules Target) : base(Target)
    {
        PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;
        PublicDependencyModuleNames.AddRange(new string[] { "Core", "CoreUObject", "Engine" });

        string Lib = Path.Combine(PluginDirectory, "ThirdParty", "libasobi");
        PublicIncludePaths.Add(Path.Combine(Lib, "include"));

        if (Target.Platform == UnrealTargetPlatform.Win64)
        {
            string Dir = Path.Combine(Lib, "Win64");
            PublicAdditionalLibraries.Add(Path.Combine(Dir, "asobi.dll.lib"));
            PublicDelayLoadDLLs.Add("asobi.dll");
            RuntimeDependencies.Add("$(BinaryOutputDir)/asobi.dll", Path.Combine(Dir, "asobi.dll"));
        }
        else if (Target.Platform == UnrealTargetPlatform.Linux)
        {
            string So = Path.Combine(Lib, "Linux", "libasobi.so");
            PublicAdditionalLibraries.Add(So);
            RuntimeDependencies.Add("$(BinaryOutputDir)/libasobi.so", So);
        }
        else if (Target.Platform == UnrealTargetPlatform.Mac)
        {
            string Dylib = Path.Combine(Lib, "Mac", "libasobi.dylib");
            PublicDelayLoadDLLs.Add(Dylib);
            RuntimeDependencies.Add("$(BinaryOutputDir)/libasobi.dylib", Dylib);
        }
    }
}

// The Asobi SDK module.
#pragma once

#include "Modules/ModuleManager.h"

class FAsobiSDKModule : public IModuleInterface
{
};

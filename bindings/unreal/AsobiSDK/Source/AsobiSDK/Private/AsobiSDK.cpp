#include "AsobiSDK.h"

IMPLEMENT_MODULE(FAsobiSDKModule, AsobiSDK)

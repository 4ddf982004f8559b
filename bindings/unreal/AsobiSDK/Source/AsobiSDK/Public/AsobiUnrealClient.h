// The Blueprint-facing layer: UAsobiClient owns an asobi::Client (AsobiClient.hpp) and ticks
// it on the game thread; Auth, Matchmaker and Realtime are thin views over it. Everything
// real happens in the wrapper, which is what the tests cover; this file only converts
// FString <-> UTF-8 and forwards.
#pragma once

#include "CoreMinimal.h"
#include "Tickable.h"
#include "UObject/Object.h"

#include "AsobiClient.hpp"

#include "AsobiUnrealClient.generated.h"

class UAsobiClient;

DECLARE_DYNAMIC_DELEGATE_TwoParams(FAsobiDone, bool, bSuccess, const FString&, PayloadJson);
DECLARE_DYNAMIC_MULTICAST_DELEGATE_OneParam(FAsobiMessage, const FString&, PayloadJson);

inline std::string AsobiUtf8(const FString& S) { return std::string(TCHAR_TO_UTF8(*S)); }
inline FString AsobiFString(const std::string& S) { return FString(UTF8_TO_TCHAR(S.c_str())); }

UCLASS(BlueprintType)
class ASOBISDK_API UAsobiAuth : public UObject
{
    GENERATED_BODY()
public:
    UFUNCTION(BlueprintCallable, Category = "Asobi")
    void Login(const FString& Username, const FString& Password, FAsobiDone Done);
    UFUNCTION(BlueprintCallable, Category = "Asobi")
    void Register(const FString& Username, const FString& Password, FAsobiDone Done);

    UAsobiClient* Owner = nullptr;
};

UCLASS(BlueprintType)
class ASOBISDK_API UAsobiMatchmaker : public UObject
{
    GENERATED_BODY()
public:
    /** Queues for a match of Mode; OnMatched (on Realtime) fires when one is found. */
    UFUNCTION(BlueprintCallable, Category = "Asobi")
    void Add(const FString& Mode, const FString& PropertiesJson, FAsobiDone Done);

    UAsobiClient* Owner = nullptr;
};

UCLASS(BlueprintType)
class ASOBISDK_API UAsobiRealtime : public UObject
{
    GENERATED_BODY()
public:
    UFUNCTION(BlueprintCallable, Category = "Asobi")
    void Connect(FAsobiDone Done);
    UFUNCTION(BlueprintCallable, Category = "Asobi")
    void SendMatchInput(const FString& InputJson);
    UFUNCTION(BlueprintCallable, Category = "Asobi")
    void Request(const FString& Type, const FString& PayloadJson, FAsobiDone Done);

    UPROPERTY(BlueprintAssignable, Category = "Asobi")
    FAsobiMessage OnMatchState;
    UPROPERTY(BlueprintAssignable, Category = "Asobi")
    FAsobiMessage OnMatched;
    UPROPERTY(BlueprintAssignable, Category = "Asobi")
    FAsobiMessage OnDisconnected;

    UAsobiClient* Owner = nullptr;
};

UCLASS(BlueprintType)
class ASOBISDK_API UAsobiClient : public UObject, public FTickableGameObject
{
    GENERATED_BODY()
public:
    /** A client for the server at HttpUrl (e.g. "http://localhost:8080"). */
    UFUNCTION(BlueprintCallable, Category = "Asobi")
    static UAsobiClient* Create(UObject* Outer, const FString& HttpUrl);

    /** Realtime over QUIC at Addr ("host:port"), pinning the server's certificate fingerprint. */
    UFUNCTION(BlueprintCallable, Category = "Asobi")
    bool UseQuic(const FString& Addr, const FString& PinSha256);

    UPROPERTY(BlueprintReadOnly, Category = "Asobi")
    UAsobiAuth* Auth = nullptr;
    UPROPERTY(BlueprintReadOnly, Category = "Asobi")
    UAsobiMatchmaker* Matchmaker = nullptr;
    UPROPERTY(BlueprintReadOnly, Category = "Asobi")
    UAsobiRealtime* Realtime = nullptr;

    asobi::Client Native;

    /** Wraps a Blueprint delegate as a wrapper callback. */
    static asobi::Client::Callback Forward(FAsobiDone Done);

    // FTickableGameObject: events are polled and dispatched on the game thread.
    virtual void Tick(float DeltaTime) override { Native.Update(); }
    virtual TStatId GetStatId() const override { RETURN_QUICK_DECLARE_CYCLE_STAT(UAsobiClient, STATGROUP_Tickables); }
    virtual bool IsTickable() const override { return Native.Valid(); }
};

#include "AsobiUnrealClient.h"

asobi::Client::Callback UAsobiClient::Forward(FAsobiDone Done)
{
    return [Done](const asobi::Event& E) { Done.ExecuteIfBound(E.ok(), AsobiFString(E.ok() ? E.payload : E.code)); };
}

UAsobiClient* UAsobiClient::Create(UObject* Outer, const FString& HttpUrl)
{
    UAsobiClient* Client = NewObject<UAsobiClient>(Outer);
    if (asobi::Client::Create(AsobiUtf8(HttpUrl), Client->Native) != ASOBI_STATUS_OK)
    {
        UE_LOG(LogTemp, Error, TEXT("Asobi: %s"), *AsobiFString(asobi::LastError()));
        return nullptr;
    }
    Client->Auth = NewObject<UAsobiAuth>(Client);
    Client->Matchmaker = NewObject<UAsobiMatchmaker>(Client);
    Client->Realtime = NewObject<UAsobiRealtime>(Client);
    Client->Auth->Owner = Client->Matchmaker->Owner = Client->Realtime->Owner = Client;
    UAsobiRealtime* Rt = Client->Realtime;
    Client->Native.On("match.state", [Rt](const asobi::Event& E) { Rt->OnMatchState.Broadcast(AsobiFString(E.payload)); });
    Client->Native.On("match.matched", [Rt](const asobi::Event& E) { Rt->OnMatched.Broadcast(AsobiFString(E.payload)); });
    Client->Native.On("session.disconnected", [Rt](const asobi::Event& E) { Rt->OnDisconnected.Broadcast(AsobiFString(E.payload)); });
    return Client;
}

bool UAsobiClient::UseQuic(const FString& Addr, const FString& PinSha256)
{
    return Native.UseQuic(AsobiUtf8(Addr), AsobiUtf8(PinSha256)) == ASOBI_STATUS_OK;
}

void UAsobiAuth::Login(const FString& Username, const FString& Password, FAsobiDone Done)
{
    Owner->Native.Login(AsobiUtf8(Username), AsobiUtf8(Password), UAsobiClient::Forward(Done));
}

void UAsobiAuth::Register(const FString& Username, const FString& Password, FAsobiDone Done)
{
    Owner->Native.Register(AsobiUtf8(Username), AsobiUtf8(Password), UAsobiClient::Forward(Done));
}

void UAsobiMatchmaker::Add(const FString& Mode, const FString& PropertiesJson, FAsobiDone Done)
{
    Owner->Native.MatchmakerAdd(AsobiUtf8(Mode), AsobiUtf8(PropertiesJson), UAsobiClient::Forward(Done));
}

void UAsobiRealtime::Connect(FAsobiDone Done)
{
    Owner->Native.Connect(UAsobiClient::Forward(Done));
}

void UAsobiRealtime::SendMatchInput(const FString& InputJson)
{
    Owner->Native.MatchInput(AsobiUtf8(InputJson));
}

void UAsobiRealtime::Request(const FString& Type, const FString& PayloadJson, FAsobiDone Done)
{
    Owner->Native.Request(AsobiUtf8(Type), AsobiUtf8(PayloadJson), UAsobiClient::Forward(Done));
}

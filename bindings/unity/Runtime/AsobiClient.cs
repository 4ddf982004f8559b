// The idiomatic C# layer over libasobi: AsobiClient with Auth, Realtime and Matchmaker.
// Requests return Tasks; they complete, and events fire, inside Update() — call it from a
// MonoBehaviour's Update (AsobiRunner does), so everything runs on Unity's main thread.
// C# 7.x only (the tests compile it with Mono's mcs).
using System;
using System.Collections.Generic;
using System.Threading.Tasks;

namespace Asobi
{
    /// <summary>A request the server (or the library) refused.</summary>
    public class AsobiException : Exception
    {
        public readonly string Code;
        public readonly int HttpStatus;
        public readonly string Body;

        public AsobiException(string code, string message, int httpStatus, string body)
            : base(code + ": " + message)
        {
            Code = code;
            HttpStatus = httpStatus;
            Body = body;
        }
    }

    /// <summary>A signed-in player.</summary>
    public class Session
    {
        public string PlayerId;
        public string Json;
    }

    /// <summary>One reply or push, copied out of the library.</summary>
    public class AsobiEvent
    {
        public EventKind Kind;
        public ulong RequestId;
        public string Type;
        public string Payload;
        public string Code;
        public string Message;
        public int Status;
        public bool Flag;
    }

    /// <summary>An Asobi client. Dispose it (or let AsobiRunner do it) to free the native client.</summary>
    public class AsobiClient : IDisposable
    {
        IntPtr handle;
        readonly Dictionary<ulong, TaskCompletionSource<AsobiEvent>> pending =
            new Dictionary<ulong, TaskCompletionSource<AsobiEvent>>();

        public readonly AuthApi Auth;
        public readonly RealtimeApi Realtime;
        public readonly MatchmakerApi Matchmaker;

        /// <summary>A client for the server at httpUrl (e.g. "http://localhost:8080").</summary>
        public AsobiClient(string httpUrl)
        {
            if (NativeMethods.asobi_abi_version() != NativeMethods.AbiVersion)
                throw new InvalidOperationException("libasobi ABI mismatch");
            Check(NativeMethods.asobi_client_new(httpUrl, out handle));
            Auth = new AuthApi(this);
            Realtime = new RealtimeApi(this);
            Matchmaker = new MatchmakerApi(this);
        }

        internal IntPtr Handle { get { return handle; } }

        internal static void Check(Status s)
        {
            if (s != Status.Ok)
                throw new AsobiException(s.ToString(), NativeMethods.LastError(), 0, null);
        }

        /// <summary>Realtime over QUIC at addr ("host:port"), pinning the certificate fingerprint (null: web PKI).</summary>
        public void UseQuic(string addr, string pinSha256)
        {
            Check(NativeMethods.asobi_client_use_quic(handle, addr, pinSha256));
        }

        internal Task<AsobiEvent> Track(Status s, ulong id)
        {
            Check(s);
            var tcs = new TaskCompletionSource<AsobiEvent>();
            pending[id] = tcs;
            return tcs.Task;
        }

        /// <summary>Any REST call below /api/v1; resolves to the answer's JSON.</summary>
        public async Task<string> RestAsync(string method, string path, string bodyJson)
        {
            ulong id;
            var s = NativeMethods.asobi_rest_call(handle, method, path, bodyJson, out id);
            return (await Track(s, id)).Payload;
        }

        /// <summary>Polls every waiting event: completes tasks and raises events. Call once per frame.</summary>
        public int Update()
        {
            int n = 0;
            RawEvent raw;
            while (handle != IntPtr.Zero && NativeMethods.asobi_client_poll(handle, out raw) == Status.Ok
                   && raw.Kind != EventKind.None)
            {
                n++;
                var ev = new AsobiEvent
                {
                    Kind = raw.Kind, RequestId = raw.RequestId, Type = NativeMethods.Text(raw.TypeName),
                    Payload = NativeMethods.Text(raw.Payload), Code = NativeMethods.Text(raw.Code),
                    Message = NativeMethods.Text(raw.Message), Status = raw.Status, Flag = raw.Flag,
                };
                TaskCompletionSource<AsobiEvent> tcs;
                if ((ev.Kind == EventKind.Response || ev.Kind == EventKind.Failure) && pending.TryGetValue(ev.RequestId, out tcs))
                {
                    pending.Remove(ev.RequestId);
                    if (ev.Kind == EventKind.Response) tcs.SetResult(ev);
                    else tcs.SetException(new AsobiException(ev.Code, ev.Message, ev.Status, ev.Payload));
                    continue;
                }
                Realtime.Dispatch(ev);
            }
            return n;
        }

        /// <summary>Frees the native client (closing its realtime session).</summary>
        public void Dispose()
        {
            if (handle != IntPtr.Zero) NativeMethods.asobi_client_free(handle);
            handle = IntPtr.Zero;
            foreach (var tcs in pending.Values) tcs.TrySetCanceled();
            pending.Clear();
        }

        /// <summary>The value of "key":"…" in a flat JSON text; null when absent.</summary>
        public static string JsonString(string json, string key)
        {
            string pattern = "\"" + key + "\":\"";
            int at = json.IndexOf(pattern, StringComparison.Ordinal);
            if (at < 0) return null;
            at += pattern.Length;
            int end = json.IndexOf('"', at);
            return end < 0 ? null : json.Substring(at, end - at);
        }

        /// <summary>How many native clients are alive (for leak checks).</summary>
        public static ulong LiveClients() { return (ulong)NativeMethods.asobi_client_count(); }
    }

    public class AuthApi
    {
        readonly AsobiClient client;
        internal AuthApi(AsobiClient client) { this.client = client; }

        static Session ToSession(AsobiEvent ev)
        {
            return new Session { PlayerId = AsobiClient.JsonString(ev.Payload, "player_id"), Json = ev.Payload };
        }

        public async Task<Session> RegisterAsync(string username, string password)
        {
            ulong id;
            var s = NativeMethods.asobi_auth_register(client.Handle, username, password, out id);
            return ToSession(await client.Track(s, id));
        }

        public async Task<Session> LoginAsync(string username, string password)
        {
            ulong id;
            var s = NativeMethods.asobi_auth_login(client.Handle, username, password, out id);
            return ToSession(await client.Track(s, id));
        }

        public async Task<Session> GuestAsync(string deviceId, string deviceSecret)
        {
            ulong id;
            var s = NativeMethods.asobi_auth_guest(client.Handle, deviceId, deviceSecret, out id);
            return ToSession(await client.Track(s, id));
        }
    }

    public class RealtimeApi
    {
        readonly AsobiClient client;
        internal RealtimeApi(AsobiClient client) { this.client = client; }

        /// <summary>match.state pushes (the mode's state as JSON).</summary>
        public event Action<string> OnMatchState;
        /// <summary>match.matched: the match found by the matchmaker (JSON).</summary>
        public event Action<string> OnMatched;
        /// <summary>Every other push: (type, payload JSON).</summary>
        public event Action<string, string> OnMessage;
        /// <summary>Connected (true after an automatic reconnect).</summary>
        public event Action<bool> OnConnected;
        /// <summary>Disconnected (code, reason, reconnecting).</summary>
        public event Action<int, string, bool> OnDisconnected;
        /// <summary>The session ended for good.</summary>
        public event Action OnClosed;

        internal void Dispatch(AsobiEvent ev)
        {
            switch (ev.Kind)
            {
                case EventKind.Connected: if (OnConnected != null) OnConnected(ev.Flag); break;
                case EventKind.Disconnected: if (OnDisconnected != null) OnDisconnected(ev.Status, ev.Message, ev.Flag); break;
                case EventKind.Closed: if (OnClosed != null) OnClosed(); break;
                case EventKind.Message:
                    if (ev.Type == "match.state" && OnMatchState != null) OnMatchState(ev.Payload);
                    else if (ev.Type == "match.matched" && OnMatched != null) OnMatched(ev.Payload);
                    else if (OnMessage != null) OnMessage(ev.Type, ev.Payload);
                    break;
            }
        }

        public async Task ConnectAsync()
        {
            ulong id;
            var s = NativeMethods.asobi_realtime_connect(client.Handle, out id);
            await client.Track(s, id);
        }

        /// <summary>A realtime request (e.g. "world.join"); resolves to the reply's JSON.</summary>
        public async Task<string> RequestAsync(string type, string payloadJson)
        {
            ulong id;
            var s = NativeMethods.asobi_realtime_request(client.Handle, type, payloadJson, out id);
            return (await client.Track(s, id)).Payload;
        }

        public void Send(string type, string payloadJson)
        {
            AsobiClient.Check(NativeMethods.asobi_realtime_send(client.Handle, type, payloadJson));
        }

        public void SendMatchInput(string inputJson)
        {
            AsobiClient.Check(NativeMethods.asobi_match_input(client.Handle, inputJson));
        }

        /// <summary>A number from the last match.state, by JSON pointer ("/players/&lt;id&gt;/x").</summary>
        public bool TryMatchStateNumber(string pointer, out double value)
        {
            return NativeMethods.asobi_match_state_number(client.Handle, pointer, out value) == Status.Ok;
        }

        public async Task CloseAsync()
        {
            ulong id;
            var s = NativeMethods.asobi_realtime_close(client.Handle, out id);
            await client.Track(s, id);
        }
    }

    public class MatchmakerApi
    {
        readonly AsobiClient client;
        internal MatchmakerApi(AsobiClient client) { this.client = client; }

        /// <summary>Queues for a match of mode; resolves to the ticket JSON. The match arrives as Realtime.OnMatched.</summary>
        public async Task<string> AddAsync(string mode, string propertiesJson = null)
        {
            ulong id;
            var s = NativeMethods.asobi_matchmaker_add(client.Handle, mode, propertiesJson, out id);
            return (await client.Track(s, id)).Payload;
        }
    }

#if UNITY_5_3_OR_NEWER
    /// <summary>Drives a client from Unity's main thread and frees it with the GameObject.</summary>
    public class AsobiRunner : UnityEngine.MonoBehaviour
    {
        public AsobiClient Client;
        void Update() { if (Client != null) Client.Update(); }
        void OnDestroy() { if (Client != null) Client.Dispose(); }
    }
#endif
}

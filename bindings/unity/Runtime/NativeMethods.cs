// P/Invoke declarations of libasobi (ffi/include/asobi.h). Tests/check-declarations checks
// that every function of the header is declared here with the same parameter count.
using System;
using System.Runtime.InteropServices;

namespace Asobi
{
    /// <summary>AsobiStatus.</summary>
    public enum Status
    {
        Ok = 0, NullArgument = 1, InvalidHandle = 2, InvalidUtf8 = 3, InvalidJson = 4,
        InvalidArgument = 5, NotConnected = 6, NotFound = 7, BufferTooSmall = 8, Runtime = 9, Panic = 10,
    }

    /// <summary>AsobiEventKind.</summary>
    public enum EventKind
    {
        None = 0, Response = 1, Failure = 2, Connected = 3, Disconnected = 4, Message = 5, Closed = 6,
    }

    /// <summary>AsobiEvent, as laid out by the C ABI (pointers are library-owned UTF-8).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct RawEvent
    {
        public EventKind Kind;
        public ulong RequestId;
        public IntPtr TypeName;
        public IntPtr Payload;
        public IntPtr Code;
        public IntPtr Message;
        public int Status;
        [MarshalAs(UnmanagedType.I1)] public bool Flag;
    }

    /// <summary>The C functions.</summary>
    public static class NativeMethods
    {
#if UNITY_IOS && !UNITY_EDITOR
        const string Lib = "__Internal";
#else
        const string Lib = "asobi";
#endif
        public const uint AbiVersion = 1;
        const CallingConvention C = CallingConvention.Cdecl;
        const UnmanagedType Utf8 = UnmanagedType.LPUTF8Str;

        [DllImport(Lib, CallingConvention = C)] public static extern uint asobi_abi_version();
        [DllImport(Lib, CallingConvention = C)] public static extern IntPtr asobi_version();
        [DllImport(Lib, CallingConvention = C)] public static extern IntPtr asobi_last_error();
        [DllImport(Lib, CallingConvention = C)] public static extern IntPtr asobi_status_name(int status);
        [DllImport(Lib, CallingConvention = C)] public static extern void asobi_string_free(IntPtr text);
        [DllImport(Lib, CallingConvention = C)] public static extern Status asobi_client_new([MarshalAs(Utf8)] string httpUrl, out IntPtr client);
        [DllImport(Lib, CallingConvention = C)] public static extern Status asobi_client_use_quic(IntPtr client, [MarshalAs(Utf8)] string addr, [MarshalAs(Utf8)] string pinSha256);
        [DllImport(Lib, CallingConvention = C)] public static extern Status asobi_client_use_websocket(IntPtr client);
        [DllImport(Lib, CallingConvention = C)] public static extern Status asobi_client_poll(IntPtr client, out RawEvent ev);
        [DllImport(Lib, CallingConvention = C)] public static extern Status asobi_client_free(IntPtr client);
        [DllImport(Lib, CallingConvention = C)] public static extern UIntPtr asobi_client_count();
        [DllImport(Lib, CallingConvention = C)] public static extern Status asobi_realtime_connect(IntPtr client, out ulong requestId);
        [DllImport(Lib, CallingConvention = C)] public static extern Status asobi_realtime_request(IntPtr client, [MarshalAs(Utf8)] string typeName, [MarshalAs(Utf8)] string payloadJson, out ulong requestId);
        [DllImport(Lib, CallingConvention = C)] public static extern Status asobi_realtime_send(IntPtr client, [MarshalAs(Utf8)] string typeName, [MarshalAs(Utf8)] string payloadJson);
        [DllImport(Lib, CallingConvention = C)] public static extern Status asobi_realtime_close(IntPtr client, out ulong requestId);
        [DllImport(Lib, CallingConvention = C)] public static extern Status asobi_matchmaker_add(IntPtr client, [MarshalAs(Utf8)] string mode, [MarshalAs(Utf8)] string propertiesJson, out ulong requestId);
        [DllImport(Lib, CallingConvention = C)] public static extern Status asobi_match_input(IntPtr client, [MarshalAs(Utf8)] string inputJson);
        [DllImport(Lib, CallingConvention = C)] public static extern Status asobi_auth_register(IntPtr client, [MarshalAs(Utf8)] string username, [MarshalAs(Utf8)] string password, out ulong requestId);
        [DllImport(Lib, CallingConvention = C)] public static extern Status asobi_auth_login(IntPtr client, [MarshalAs(Utf8)] string username, [MarshalAs(Utf8)] string password, out ulong requestId);
        [DllImport(Lib, CallingConvention = C)] public static extern Status asobi_auth_guest(IntPtr client, [MarshalAs(Utf8)] string deviceId, [MarshalAs(Utf8)] string deviceSecret, out ulong requestId);
        [DllImport(Lib, CallingConvention = C)] public static extern Status asobi_auth_logout(IntPtr client, out ulong requestId);
        [DllImport(Lib, CallingConvention = C)] public static extern Status asobi_rest_call(IntPtr client, [MarshalAs(Utf8)] string method, [MarshalAs(Utf8)] string path, [MarshalAs(Utf8)] string bodyJson, out ulong requestId);
        [DllImport(Lib, CallingConvention = C)] public static extern Status asobi_world_entities(IntPtr client, IntPtr output, UIntPtr capacity, out UIntPtr count);
        [DllImport(Lib, CallingConvention = C)] public static extern Status asobi_world_entity_number(IntPtr client, [MarshalAs(Utf8)] string id, [MarshalAs(Utf8)] string field, out double value);
        [DllImport(Lib, CallingConvention = C)] public static extern Status asobi_world_entity_json(IntPtr client, [MarshalAs(Utf8)] string id, out IntPtr json);
        [DllImport(Lib, CallingConvention = C)] public static extern Status asobi_world_chunks(IntPtr client, IntPtr output, UIntPtr capacity, out UIntPtr count);
        [DllImport(Lib, CallingConvention = C)] public static extern Status asobi_world_chunk_tiles(IntPtr client, long x, long y, IntPtr output, UIntPtr capacity, out UIntPtr count);
        [DllImport(Lib, CallingConvention = C)] public static extern Status asobi_match_state_number(IntPtr client, [MarshalAs(Utf8)] string pointer, out double value);
        [DllImport(Lib, CallingConvention = C)] public static extern Status asobi_match_state_json(IntPtr client, [MarshalAs(Utf8)] string pointer, out IntPtr json);

        /// <summary>A library-owned UTF-8 string as a C# string.</summary>
        public static string Text(IntPtr utf8)
        {
            if (utf8 == IntPtr.Zero) return "";
            int len = 0;
            while (Marshal.ReadByte(utf8, len) != 0) len++;
            var bytes = new byte[len];
            Marshal.Copy(utf8, bytes, 0, len);
            return System.Text.Encoding.UTF8.GetString(bytes);
        }

        /// <summary>The calling thread's last failure text.</summary>
        public static string LastError() { return Text(asobi_last_error()); }
    }
}

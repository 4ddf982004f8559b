// Engine-free C++ wrapper over libasobi (asobi.h): RAII client handle, request callbacks and
// per-type message handlers dispatched from Update() on the calling (game) thread.
// Builds without exceptions and RTTI (Unreal's defaults); C++17 or later.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "asobi.h"

namespace asobi {

/// One event, copied out of libasobi's poll (its strings live only until the next poll).
struct Event {
  AsobiEventKind kind = ASOBI_EVENT_KIND_NONE;
  uint64_t request_id = 0;
  std::string type;     ///< message or reply type, e.g. "match.state", "auth.login"
  std::string payload;  ///< JSON
  std::string code;     ///< stable error code (failures) or close reason
  std::string message;  ///< human-readable text
  int32_t status = 0;   ///< HTTP status or close code
  bool flag = false;    ///< resumed / reconnecting

  bool ok() const { return kind != ASOBI_EVENT_KIND_FAILURE; }
};

/// What starting a request gave: a status and, on success, the request id.
struct Started {
  AsobiStatus status = ASOBI_STATUS_OK;
  uint64_t request_id = 0;
  explicit operator bool() const { return status == ASOBI_STATUS_OK; }
};

/// The last failure's text on this thread.
inline std::string LastError() { return asobi_last_error(); }

/// An Asobi client. Move-only; frees the libasobi handle when destroyed.
class Client {
 public:
  using Callback = std::function<void(const Event&)>;

  Client() = default;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  Client(Client&& other) noexcept { *this = std::move(other); }
  Client& operator=(Client&& other) noexcept {
    if (this != &other) {
      Reset();
      handle_ = std::exchange(other.handle_, nullptr);
      pending_ = std::move(other.pending_);
      handlers_ = std::move(other.handlers_);
    }
    return *this;
  }
  ~Client() { Reset(); }

  /// Creates a client for `http_url` (realtime over WebSocket until UseQuic).
  static AsobiStatus Create(const std::string& http_url, Client& out) {
    AsobiClient* handle = nullptr;
    AsobiStatus s = asobi_client_new(http_url.c_str(), &handle);
    if (s == ASOBI_STATUS_OK) {
      out.Reset();
      out.handle_ = handle;
    }
    return s;
  }

  bool Valid() const { return handle_ != nullptr; }
  AsobiClient* Handle() const { return handle_; }

  /// Realtime over QUIC at `addr`, pinning `pin_sha256` (empty: web PKI).
  AsobiStatus UseQuic(const std::string& addr, const std::string& pin_sha256 = "") {
    return asobi_client_use_quic(handle_, addr.c_str(), pin_sha256.empty() ? nullptr : pin_sha256.c_str());
  }

  Started Register(const std::string& user, const std::string& password, Callback done = {}) {
    return Track(asobi_auth_register, user, password, std::move(done));
  }
  Started Login(const std::string& user, const std::string& password, Callback done = {}) {
    return Track(asobi_auth_login, user, password, std::move(done));
  }
  Started Guest(const std::string& device_id, const std::string& secret, Callback done = {}) {
    return Track(asobi_auth_guest, device_id, secret, std::move(done));
  }
  /// Any REST call below /api/v1; `body_json` empty for none.
  Started Rest(const std::string& method, const std::string& path, const std::string& body_json,
               Callback done = {}) {
    Started r;
    r.status = asobi_rest_call(handle_, method.c_str(), path.c_str(),
                               body_json.empty() ? nullptr : body_json.c_str(), &r.request_id);
    return Remember(r, std::move(done));
  }

  Started Connect(Callback done = {}) {
    Started r;
    r.status = asobi_realtime_connect(handle_, &r.request_id);
    return Remember(r, std::move(done));
  }
  Started Request(const std::string& type, const std::string& payload_json, Callback done = {}) {
    Started r;
    r.status = asobi_realtime_request(handle_, type.c_str(),
                                      payload_json.empty() ? nullptr : payload_json.c_str(), &r.request_id);
    return Remember(r, std::move(done));
  }
  AsobiStatus Send(const std::string& type, const std::string& payload_json) {
    return asobi_realtime_send(handle_, type.c_str(), payload_json.empty() ? nullptr : payload_json.c_str());
  }
  Started MatchmakerAdd(const std::string& mode, const std::string& properties_json = "", Callback done = {}) {
    Started r;
    r.status = asobi_matchmaker_add(handle_, mode.c_str(),
                                    properties_json.empty() ? nullptr : properties_json.c_str(), &r.request_id);
    return Remember(r, std::move(done));
  }
  AsobiStatus MatchInput(const std::string& input_json) {
    return asobi_match_input(handle_, input_json.c_str());
  }
  Started Close(Callback done = {}) {
    Started r;
    r.status = asobi_realtime_close(handle_, &r.request_id);
    return Remember(r, std::move(done));
  }

  /// Calls `handler` for every pushed message of `type` ("match.state", "match.matched"…),
  /// and for "session.connected", "session.disconnected", "session.closed".
  void On(const std::string& type, Callback handler) { handlers_[type].push_back(std::move(handler)); }

  /// Reads a number from the last match.state (JSON pointer, e.g. "/players/<id>/x").
  bool MatchStateNumber(const std::string& pointer, double& out) const {
    return asobi_match_state_number(handle_, pointer.c_str(), &out) == ASOBI_STATUS_OK;
  }

  /// The world's entities (empty when not in a world).
  std::vector<AsobiEntity> Entities() const {
    size_t count = 0;
    std::vector<AsobiEntity> out;
    for (int tries = 0; tries < 4; tries++) {
      AsobiStatus s = asobi_world_entities(handle_, out.data(), out.size(), &count);
      if (s == ASOBI_STATUS_OK) {
        out.resize(count);
        return out;
      }
      if (s != ASOBI_STATUS_BUFFER_TOO_SMALL) break;
      out.resize(count + 8);
    }
    return {};
  }

  /// Polls every waiting event and dispatches it; call once per frame. Returns how many.
  int Update() {
    int n = 0;
    AsobiEvent raw;
    while (handle_ && asobi_client_poll(handle_, &raw) == ASOBI_STATUS_OK && raw.kind != ASOBI_EVENT_KIND_NONE) {
      Event ev{raw.kind, raw.request_id, raw.type_name, raw.payload, raw.code, raw.message, raw.status, raw.flag};
      n++;
      if (ev.kind == ASOBI_EVENT_KIND_RESPONSE || ev.kind == ASOBI_EVENT_KIND_FAILURE) {
        auto it = pending_.find(ev.request_id);
        if (it != pending_.end()) {
          Callback done = std::move(it->second);
          pending_.erase(it);
          if (done) done(ev);
        }
        continue;
      }
      auto it = handlers_.find(ev.type);
      if (it != handlers_.end()) {
        for (auto& handler : it->second) handler(ev);
      }
    }
    return n;
  }

 private:
  template <typename F>
  Started Track(F call, const std::string& a, const std::string& b, Callback done) {
    Started r;
    r.status = call(handle_, a.c_str(), b.c_str(), &r.request_id);
    return Remember(r, std::move(done));
  }
  Started Remember(Started r, Callback done) {
    if (r && done) pending_[r.request_id] = std::move(done);
    return r;
  }
  void Reset() {
    if (handle_) asobi_client_free(handle_);
    handle_ = nullptr;
    pending_.clear();
    handlers_.clear();
  }

  AsobiClient* handle_ = nullptr;
  std::map<uint64_t, Callback> pending_;
  std::map<std::string, std::vector<Callback>> handlers_;
};

/// The value of "key":"…" in a flat JSON text (enough for ids in replies); empty if absent.
inline std::string JsonString(const std::string& json, const std::string& key) {
  const std::string pattern = "\"" + key + "\":\"";
  size_t at = json.find(pattern);
  if (at == std::string::npos) return {};
  at += pattern.size();
  size_t end = json.find('"', at);
  return end == std::string::npos ? std::string() : json.substr(at, end - at);
}

}  // namespace asobi

#include "store/audit_reads.h"

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "audit/journal_format.h"
#include "base/audit_files.h"
#include "base/bounded_json.h"
#include "base/ops_log.h"
#include "mcpaudit/clock.h"
#include "mcpaudit/pipeline.h"

namespace mcpaudit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr size_t kMaxLine = 64 * 1024;
constexpr int kIoTimeoutMs = 5000;

Result<sockaddr_un> SocketAddress(const fs::path& dir) {
  const std::string path = (dir / kControlSocketName).string();
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path)
    return Fail(ErrorCode::kInvalidArgument, "the path " + path + " is too long for a Unix socket");
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return address;
}

// Reads one line (without '\n') within the timeout.
Result<std::string> ReadLine(int fd) {
  std::string line;
  char buffer[4096];
  while (line.find('\n') == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, kIoTimeoutMs) <= 0) return Fail(ErrorCode::kUnavailable, "no answer in time");
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) return Fail(ErrorCode::kUnavailable, "the connection closed");
    line.append(buffer, static_cast<size_t>(n));
    if (line.size() > kMaxLine) return Fail(ErrorCode::kInvalidArgument, "line too long");
  }
  line.resize(line.find('\n'));
  return line;
}

bool HasJournal(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (journal::IsSegmentName(entry.path().filename().string())) return true;
  return false;
}

// Through the server that holds the journal; kNotFound when none listens.
Status SendToServer(const fs::path& dir, const AuditEvent& event) {
  auto address = SocketAddress(dir);
  if (!address) return std::unexpected(address.error());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Fail(ErrorCode::kIo, std::string("socket: ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&*address), sizeof *address) != 0) {
    ::close(fd);
    return Fail(ErrorCode::kNotFound,
                "no server listens on " + (dir / kControlSocketName).string());
  }
  const std::string line = ToJsonLine(event) + "\n";
  Result<std::string> answer = WriteAll(fd, line) == line.size()
                                   ? ReadLine(fd)
                                   : Fail(ErrorCode::kIo, "cannot send to the server");
  ::close(fd);
  if (!answer) return std::unexpected(answer.error());
  if (*answer != "ok")
    return Fail(ErrorCode::kUnavailable, "the server did not record it: " + *answer);
  return {};
}

}  // namespace

AuditEvent AuditReadEvent(const std::string& command, const std::string& source,
                          const json& request) {
  AuditEvent event;
  event.timestamp = std::chrono::system_clock::now();
  event.id = NewUuidV7(event.timestamp, SecureRandom());
  event.event_type = "audit_read";
  event.tool = command;
  if (const char* env = std::getenv("MCP_AUDIT_USER"); env && *env) {
    event.user.id = env;
    event.user.auth_method = "env";
  } else {
    const passwd* pw = ::getpwuid(::geteuid());
    event.user.id = pw ? pw->pw_name : "uid:" + std::to_string(::geteuid());
    event.user.auth_method = "os_user";
  }
  event.request.transport = "cli";
  event.details = {{"command", command}, {"source", source}, {"request", request}};
  return event;
}

Status RecordAuditRead(const fs::path& dir, const AuditEvent& event) {
  Status sent = SendToServer(dir, event);
  if (sent || sent.error().code != ErrorCode::kNotFound) return sent;
  if (!HasJournal(dir))
    return Fail(ErrorCode::kNotFound, "there is no audit journal in " + dir.string());
  // No server: the read waits, synced, for the next server to put it in the chain.
  const fs::path pending = dir / kPendingReadsName;
  auto fd = OpenAuditFile(pending);
  if (!fd) return std::unexpected(fd.error());
  AuditEvent own = event;
  own.details["peer"] = {{"uid", ::geteuid()}, {"pid", ::getpid()}};
  const std::string line = ToJsonLine(own) + "\n";
  const bool written = WriteAll(*fd, line) == line.size() && ::fdatasync(*fd) == 0;
  const Error error = ErrnoError("cannot write", pending);
  ::close(*fd);
  if (!written) return std::unexpected(error);
  return {};
}

namespace {

// Logs the reads recorded while no server ran, then empties their file. A
// crash in between logs them again on the next start (same ids: at least once).
Status LogPendingReads(const fs::path& dir, Pipeline& pipeline) {
  const fs::path pending = dir / kPendingReadsName;
  std::error_code ec;
  if (!fs::exists(pending, ec)) return {};
  auto text = ReadWholeFile(pending);
  if (!text) return std::unexpected(text.error());
  size_t start = 0, logged = 0;
  for (size_t end; (end = text->find('\n', start)) != std::string::npos; start = end + 1) {
    auto event = AuditEventFromLine(std::string_view(*text).substr(start, end - start));
    if (!event || event->event_type != "audit_read") {
      OpsLog().error("{}: a line that is not an audit_read event was passed over", pending.string());
      continue;
    }
    if (Status s = pipeline.Log(*event); !s) return s;
    ++logged;
  }
  if (Status flushed = pipeline.Flush(); !flushed) return flushed;
  fs::remove(pending, ec);
  if (ec) return Fail(ErrorCode::kIo, "cannot remove " + pending.string() + ": " + ec.message());
  SyncDirectory(dir);
  if (logged > 0) OpsLog().info("{} reads of the audit log made while no server ran are now recorded", logged);
  return {};
}

}  // namespace

struct AuditReadListener::State {
  // A client has this long to send its line; a silent one never delays the others.
  static constexpr auto kClientDeadline = std::chrono::seconds(2);
  static constexpr size_t kMaxClients = 32;

  struct Client {
    int fd = -1;
    ucred peer{};
    std::string received;
    std::chrono::steady_clock::time_point deadline;
  };

  fs::path path;
  int listen_fd = -1;
  int wake[2] = {-1, -1};  // a byte on wake[1] stops the thread
  AuditLogger* logger = nullptr;
  AuditServer server;
  std::vector<Client> clients;
  std::thread thread;

  void Serve() {
    std::vector<pollfd> fds;
    for (;;) {
      fds.assign({{wake[0], POLLIN, 0}, {clients.size() < kMaxClients ? listen_fd : -1, POLLIN, 0}});
      for (const Client& c : clients) fds.push_back({c.fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), clients.empty() ? -1 : MillisecondsToNextDeadline()) < 0 &&
          errno != EINTR)
        return;
      if (fds[0].revents) return;
      // Clients first (by index, before accepting changes the list), newest last.
      for (size_t i = clients.size(); i-- > 0;)
        if (fds[i + 2].revents) ReadFrom(i);
      DropLateClients();
      if (fds[1].revents & POLLIN) Accept();
    }
  }

  int MillisecondsToNextDeadline() const {
    auto next = clients.front().deadline;
    for (const Client& c : clients) next = std::min(next, c.deadline);
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(next - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<int64_t>(left.count(), 0));
  }

  void Accept() {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      // Out of descriptors (EMFILE) the socket stays readable: wait instead of spinning.
      if (errno != EINTR && errno != EAGAIN) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      return;
    }
    Client client;
    client.fd = fd;
    client.deadline = std::chrono::steady_clock::now() + kClientDeadline;
    socklen_t size = sizeof client.peer;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &client.peer, &size) != 0) {
      Finish(client, "error: unknown peer");
      return;
    }
    clients.push_back(std::move(client));
  }

  void ReadFrom(size_t i) {
    Client& client = clients[i];
    char buffer[4096];
    const ssize_t n = ::read(client.fd, buffer, sizeof buffer);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    std::string answer;
    if (n <= 0) {
      answer = "error: the connection closed";
    } else {
      client.received.append(buffer, static_cast<size_t>(n));
      const size_t end = client.received.find('\n');
      if (end != std::string::npos)
        answer = Handle(client.peer, std::string_view(client.received).substr(0, end));
      else if (client.received.size() > kMaxLine)
        answer = "error: line too long";
      else
        return;
    }
    Finish(client, answer);
    clients.erase(clients.begin() + static_cast<std::ptrdiff_t>(i));
  }

  void DropLateClients() {
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(clients, [&](Client& c) {
      if (c.deadline > now) return false;
      Finish(c, "error: no request in time");
      return true;
    });
  }

  // The answer is one short line into an empty socket buffer: it never blocks.
  // MSG_NOSIGNAL: a client that went away is no reason for SIGPIPE.
  static void Finish(Client& client, const std::string& answer) {
    const std::string line = answer + "\n";
    (void)::send(client.fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(client.fd);
    client.fd = -1;
  }

  std::string Handle(const ucred& peer, std::string_view line) {
    auto event = AuditEventFromLine(line);
    if (!event) return "error: not an audit event";
    // Only reads come this way: nothing else may be written in the server's name.
    if (event->event_type != "audit_read") return "error: only audit_read events are accepted";
    event->timestamp = std::chrono::system_clock::now();
    event->id = NewUuidV7(event->timestamp, SecureRandom());
    event->server = server;  // the outcome and error stay: a refused read is recorded as refused
    event->details["peer"] = {{"uid", peer.uid}, {"pid", peer.pid}};
    if (Status logged = logger->Log(*event); !logged) return "error: " + logged.error().message;
    return "ok";
  }

  ~State() {
    if (thread.joinable()) {
      (void)!::write(wake[1], "x", 1);
      thread.join();
    }
    if (listen_fd >= 0) {
      ::close(listen_fd);
      std::error_code ec;
      fs::remove(path, ec);
    }
    for (Client& c : clients) ::close(c.fd);
    for (int fd : wake)
      if (fd >= 0) ::close(fd);
  }
};

AuditReadListener::AuditReadListener(std::unique_ptr<State> state) : state_(std::move(state)) {}
AuditReadListener::~AuditReadListener() = default;

Result<std::unique_ptr<AuditReadListener>> AuditReadListener::Start(const fs::path& dir, Pipeline& logger,
                                                                    AuditServer server) {
  if (Status pending = LogPendingReads(dir, logger); !pending) return std::unexpected(pending.error());
  auto address = SocketAddress(dir);
  if (!address) return std::unexpected(address.error());
  auto state = std::make_unique<State>();
  state->path = dir / kControlSocketName;
  state->logger = &logger;
  state->server = std::move(server);
  // The caller holds the journal lock: a socket left here is a dead server's.
  std::error_code ec;
  fs::remove(state->path, ec);
  state->listen_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (state->listen_fd < 0)
    return std::unexpected(ErrnoError("cannot create a socket for", state->path));
  // Bound inside the 0700 journal directory, then narrowed to its owner.
  if (::bind(state->listen_fd, reinterpret_cast<const sockaddr*>(&*address), sizeof *address) !=
          0 ||
      ::chmod(state->path.c_str(), 0600) != 0 || ::listen(state->listen_fd, 16) != 0)
    return std::unexpected(ErrnoError("cannot listen on", state->path));
  if (::pipe2(state->wake, O_CLOEXEC) != 0)
    return std::unexpected(ErrnoError("cannot make a pipe for", state->path));
  State* raw = state.get();
  state->thread = std::thread([raw] { raw->Serve(); });
  return std::unique_ptr<AuditReadListener>(new AuditReadListener(std::move(state)));
}

}  // namespace mcpaudit

// berth_native: opens listening sockets inside another network namespace.
//
// setns(CLONE_NEWNET) changes the namespace of the calling *thread* only, and nothing in Node
// expects its threads to move: the main thread would open every later socket in the wrong
// namespace, a libuv pool thread would do the same for whoever runs next on it. So each call
// spawns a short-lived pthread that enters the namespace, creates the socket and exits; the
// socket stays bound to the namespace it was created in, and its fd is shared process-wide.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <node_api.h>

#include "dns_udp.h"

#define ADDRESS_MAX (INET6_ADDRSTRLEN + IF_NAMESIZE + 2)
#define MESSAGE_MAX 256

enum socket_kind { KIND_UDP, KIND_TCP };

struct open_request {
  char netns_path[PATH_MAX];
  char address[ADDRESS_MAX];
  enum socket_kind kind;
  int port;
  int backlog;
  bool reuse_addr;
  bool ipv6_only;

  int fd;
  int err;
  const char *code;
  const char *syscall;
};

static void *request_fail(struct open_request *r, int err, const char *code, const char *syscall) {
  r->fd = -1;
  r->err = err;
  r->code = code;
  r->syscall = syscall;
  return NULL;
}

// Runs after setns so that an IPv6 zone given by interface name ("fe80::1%eth0") resolves
// against the interfaces of the target namespace, not ours.
static void *parse_address(struct open_request *r, struct sockaddr_storage *ss, socklen_t *len) {
  char host[ADDRESS_MAX];
  memcpy(host, r->address, sizeof host);
  char *zone = strchr(host, '%');
  if (zone != NULL) *zone++ = '\0';

  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
  if (zone == NULL && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)r->port);
    *len = sizeof *v4;
    return r;
  }
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) != 1) return request_fail(r, EINVAL, "E_ADDRESS", "inet_pton");
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons((uint16_t)r->port);
  if (zone != NULL && *zone != '\0') {
    char *end = NULL;
    unsigned long idx = strtoul(zone, &end, 10);
    if (end == NULL || *end != '\0') {
      idx = if_nametoindex(zone);
      if (idx == 0) return request_fail(r, errno, "E_ADDRESS", "if_nametoindex");
    }
    v6->sin6_scope_id = (uint32_t)idx;
  }
  *len = sizeof *v6;
  return r;
}

static void *open_in_netns_thread(void *arg) {
  struct open_request *r = arg;

  int nsfd = open(r->netns_path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) return request_fail(r, errno, "E_NETNS_OPEN", "open");
  if (setns(nsfd, CLONE_NEWNET) != 0) {
    int err = errno;
    close(nsfd);
    return request_fail(r, err, "E_SETNS", "setns");
  }
  close(nsfd);

  struct sockaddr_storage ss;
  socklen_t ss_len = 0;
  if (parse_address(r, &ss, &ss_len) == NULL) return NULL;

  int type = r->kind == KIND_TCP ? SOCK_STREAM : SOCK_DGRAM;
  int fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return request_fail(r, errno, "E_SOCKET", "socket");

  const int one = 1;
  const int v6only = r->ipv6_only ? 1 : 0;
  const char *code = NULL;
  const char *syscall = NULL;
  if (r->reuse_addr && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    code = "E_SETSOCKOPT";
    syscall = "setsockopt(SO_REUSEADDR)";
  } else if (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) != 0) {
    code = "E_SETSOCKOPT";
    syscall = "setsockopt(IPV6_V6ONLY)";
  } else if (bind(fd, (struct sockaddr *)&ss, ss_len) != 0) {
    code = "E_BIND";
    syscall = "bind";
  } else if (r->kind == KIND_TCP && listen(fd, r->backlog) != 0) {
    code = "E_LISTEN";
    syscall = "listen";
  }
  if (code != NULL) {
    int err = errno;
    close(fd);
    return request_fail(r, err, code, syscall);
  }
  r->fd = fd;
  r->err = 0;
  return r;
}

// Safe to call from any thread; the calling thread's namespace never changes.
static void open_in_netns(struct open_request *r) {
  // The helper inherits our signal mask; with everything blocked, no process-directed signal
  // (SIGCHLD, SIGTERM...) lands on a thread that is about to vanish.
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  pthread_t tid;
  int rc = pthread_create(&tid, NULL, open_in_netns_thread, r);
  pthread_sigmask(SIG_SETMASK, &saved, NULL);
  if (rc != 0) {
    request_fail(r, rc, "E_THREAD", "pthread_create");
    return;
  }
  rc = pthread_join(tid, NULL);
  if (rc != 0) request_fail(r, rc, "E_THREAD", "pthread_join");
}

// ---- N-API glue -------------------------------------------------------------------------

#define NAPI_OK_OR_RETURN(env, call, ret)                                   \
  do {                                                                       \
    if ((call) != napi_ok) {                                                 \
      const napi_extended_error_info *info_ = NULL;                          \
      napi_get_last_error_info((env), &info_);                               \
      bool pending_ = false;                                                 \
      napi_is_exception_pending((env), &pending_);                           \
      if (!pending_) {                                                       \
        napi_throw_error((env), "E_NAPI",                                    \
                         info_ && info_->error_message ? info_->error_message \
                                                       : "N-API call failed"); \
      }                                                                      \
      return (ret);                                                          \
    }                                                                        \
  } while (0)

#define OPEN_ARGC 7

static bool get_string(napi_env env, napi_value v, char *buf, size_t size, const char *what) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) {
    char msg[MESSAGE_MAX];
    snprintf(msg, sizeof msg, "%s must be a string", what);
    napi_throw_type_error(env, "E_INVALID_ARGUMENT", msg);
    return false;
  }
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return false;
  if (len == 0 || len >= size) {
    char msg[MESSAGE_MAX];
    snprintf(msg, sizeof msg, "%s must be 1..%zu bytes long", what, size - 1);
    napi_throw_range_error(env, "E_INVALID_ARGUMENT", msg);
    return false;
  }
  return napi_get_value_string_utf8(env, v, buf, size, &len) == napi_ok;
}

static bool get_int(napi_env env, napi_value v, int min, int max, int *out, const char *what) {
  napi_valuetype t;
  int32_t n = 0;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number || napi_get_value_int32(env, v, &n) != napi_ok ||
      n < min || n > max) {
    char msg[MESSAGE_MAX];
    snprintf(msg, sizeof msg, "%s must be an integer in %d..%d", what, min, max);
    napi_throw_range_error(env, "E_INVALID_ARGUMENT", msg);
    return false;
  }
  *out = n;
  return true;
}

static bool get_bool(napi_env env, napi_value v, bool *out, const char *what) {
  if (napi_get_value_bool(env, v, out) != napi_ok) {
    char msg[MESSAGE_MAX];
    snprintf(msg, sizeof msg, "%s must be a boolean", what);
    napi_throw_type_error(env, "E_INVALID_ARGUMENT", msg);
    return false;
  }
  return true;
}

// Arguments: (netnsPath, type 'udp'|'tcp', address, port, reuseAddr, ipv6Only, backlog).
// Shape checks only; the TypeScript wrapper validates meaning and phrases the errors.
static bool parse_open_args(napi_env env, napi_callback_info info, struct open_request *r) {
  size_t argc = OPEN_ARGC;
  napi_value argv[OPEN_ARGC];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  if (argc != OPEN_ARGC) {
    napi_throw_type_error(env, "E_INVALID_ARGUMENT", "expected 7 arguments");
    return false;
  }
  char type[8];
  memset(r, 0, sizeof *r);
  if (!get_string(env, argv[0], r->netns_path, sizeof r->netns_path, "netnsPath")) return false;
  if (!get_string(env, argv[1], type, sizeof type, "type")) return false;
  if (strcmp(type, "udp") == 0) {
    r->kind = KIND_UDP;
  } else if (strcmp(type, "tcp") == 0) {
    r->kind = KIND_TCP;
  } else {
    napi_throw_range_error(env, "E_INVALID_ARGUMENT", "type must be 'udp' or 'tcp'");
    return false;
  }
  if (!get_string(env, argv[2], r->address, sizeof r->address, "address")) return false;
  if (!get_int(env, argv[3], 0, 65535, &r->port, "port")) return false;
  if (!get_bool(env, argv[4], &r->reuse_addr, "reuseAddr")) return false;
  if (!get_bool(env, argv[5], &r->ipv6_only, "ipv6Only")) return false;
  if (!get_int(env, argv[6], 0, INT_MAX, &r->backlog, "backlog")) return false;
  return true;
}

static napi_status set_string_prop(napi_env env, napi_value obj, const char *key, const char *value) {
  napi_value v;
  napi_status s = napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v);
  if (s != napi_ok) return s;
  return napi_set_named_property(env, obj, key, v);
}

// Success: the fd as a number. Failure: { code, errno, syscall, message } for the wrapper to
// turn into a NetnsSocketError (it knows how to name the request in the message).
static napi_value request_result(napi_env env, const struct open_request *r) {
  napi_value out;
  if (r->err == 0) {
    NAPI_OK_OR_RETURN(env, napi_create_int32(env, r->fd, &out), NULL);
    return out;
  }
  char buf[MESSAGE_MAX];
  const char *text = strerror_r(r->err, buf, sizeof buf);
  napi_value errno_v;
  NAPI_OK_OR_RETURN(env, napi_create_object(env, &out), NULL);
  NAPI_OK_OR_RETURN(env, set_string_prop(env, out, "code", r->code), NULL);
  NAPI_OK_OR_RETURN(env, set_string_prop(env, out, "syscall", r->syscall), NULL);
  NAPI_OK_OR_RETURN(env, set_string_prop(env, out, "message", text), NULL);
  NAPI_OK_OR_RETURN(env, napi_create_int32(env, r->err, &errno_v), NULL);
  NAPI_OK_OR_RETURN(env, napi_set_named_property(env, out, "errno", errno_v), NULL);
  return out;
}

static napi_value open_socket_in_netns_sync(napi_env env, napi_callback_info info) {
  struct open_request r;
  if (!parse_open_args(env, info, &r)) return NULL;
  open_in_netns(&r);
  return request_result(env, &r);
}

// Rejects a promise with the JS exception building its result raised, or with `fallback`.
static void reject_with_pending_or(napi_env env, napi_deferred deferred, const char *fallback) {
  napi_value msg, err;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_get_and_clear_last_exception(env, &err);
  } else {
    napi_create_string_utf8(env, fallback, NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &err);
  }
  napi_reject_deferred(env, deferred, err);
}

struct async_open {
  struct open_request req;
  napi_deferred deferred;
  napi_async_work work;
};

static void async_execute(napi_env env, void *data) {
  (void)env;
  open_in_netns(&((struct async_open *)data)->req);
}

static void async_complete(napi_env env, napi_status status, void *data) {
  struct async_open *a = data;
  napi_value result = NULL;
  if (status == napi_ok) result = request_result(env, &a->req);
  if (result != NULL) {
    napi_resolve_deferred(env, a->deferred, result);
  } else {
    // Cancelled or failed to build the result: don't leak a socket nobody will ever see.
    if (a->req.err == 0 && a->req.fd >= 0) close(a->req.fd);
    reject_with_pending_or(env, a->deferred, "openSocketInNetns async work did not complete");
  }
  napi_delete_async_work(env, a->work);
  free(a);
}

static napi_value open_socket_in_netns_async(napi_env env, napi_callback_info info) {
  struct async_open *a = calloc(1, sizeof *a);
  if (a == NULL) {
    napi_throw_error(env, "E_NOMEM", "out of memory");
    return NULL;
  }
  if (!parse_open_args(env, info, &a->req)) {
    free(a);
    return NULL;
  }
  napi_value promise, name;
  if (napi_create_promise(env, &a->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "berth:openSocketInNetns", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, async_execute, async_complete, a, &a->work) != napi_ok) {
    free(a);
    NAPI_OK_OR_RETURN(env, napi_generic_failure, NULL);
  }
  if (napi_queue_async_work(env, a->work) != napi_ok) {
    napi_delete_async_work(env, a->work);
    free(a);
    NAPI_OK_OR_RETURN(env, napi_generic_failure, NULL);
  }
  return promise;
}


// ---- netlink sockets inside a namespace, and the transactions berth runs over them ----------
//
// The `netlink` npm package creates its sockets on the calling (main) thread, so it can only
// ever talk to our own namespace. berth keeps that package's message codecs and typed API but
// gives it a transport whose socket was created inside the target namespace on a dedicated
// thread (a netlink socket stays bound to the namespace it was created in, like any socket).
// Requests go out in batches and come back on a libuv pool thread with blocking I/O, which is
// what makes programming thousands of entries cheap.

#include <linux/netlink.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/stat.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif

#define NL_SOCKET_BUFFER (8 * 1024 * 1024)
#define NL_REPLY_TIMEOUT_MS 30000
#define NL_MAX_PENDING 65536

struct nl_open_request {
  char netns_path[PATH_MAX];
  int protocol;
  int fd;
  int err;
  const char *code;
  const char *syscall;
};

static void *nl_fail(struct nl_open_request *r, int err, const char *code, const char *syscall) {
  if (r->fd >= 0) close(r->fd);
  r->fd = -1;
  r->err = err;
  r->code = code;
  r->syscall = syscall;
  return NULL;
}

static void *nl_open_thread(void *arg) {
  struct nl_open_request *r = arg;
  r->fd = -1;
  int nsfd = open(r->netns_path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) return nl_fail(r, errno, "E_NETNS_OPEN", "open");
  if (setns(nsfd, CLONE_NEWNET) != 0) {
    int err = errno;
    close(nsfd);
    return nl_fail(r, err, "E_SETNS", "setns");
  }
  close(nsfd);
  r->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, r->protocol);
  if (r->fd < 0) return nl_fail(r, errno, "E_SOCKET", "socket");
  struct sockaddr_nl addr;
  memset(&addr, 0, sizeof addr);
  addr.nl_family = AF_NETLINK;
  if (bind(r->fd, (struct sockaddr *)&addr, sizeof addr) != 0) return nl_fail(r, errno, "E_BIND", "bind");
  const int one = 1;
  const int size = NL_SOCKET_BUFFER;
  // Capped acks keep thousands of replies small; extended acks carry the kernel's reason.
  setsockopt(r->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  setsockopt(r->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  // FORCE needs CAP_NET_ADMIN; fall back to the capped variant without it.
  if (setsockopt(r->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
    setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (setsockopt(r->fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
    setsockopt(r->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  r->err = 0;
  return r;
}

// A namespace that lives as long as its bind mount: unshare on a throwaway thread, then pin
// the thread's new namespace at `path` (what `ip netns add` does, without the process moving).
struct netns_create_request {
  char path[PATH_MAX];
  int err;
  const char *code;
  const char *syscall;
};

static void *netns_create_thread(void *arg) {
  struct netns_create_request *r = arg;
  int fd = open(r->path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (fd < 0) {
    r->err = errno;
    r->code = "E_NETNS_CREATE";
    r->syscall = "open";
    return NULL;
  }
  close(fd);
  if (unshare(CLONE_NEWNET) != 0) {
    r->err = errno;
    r->code = "E_NETNS_CREATE";
    r->syscall = "unshare";
    unlink(r->path);
    return NULL;
  }
  char self[64];
  snprintf(self, sizeof self, "/proc/self/task/%ld/ns/net", (long)gettid());
  if (mount(self, r->path, "none", MS_BIND, NULL) != 0) {
    r->err = errno;
    r->code = "E_NETNS_CREATE";
    r->syscall = "mount";
    unlink(r->path);
    return NULL;
  }
  r->err = 0;
  return r;
}

static int run_on_fresh_thread(void *(*fn)(void *), void *arg) {
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  pthread_t tid;
  int rc = pthread_create(&tid, NULL, fn, arg);
  pthread_sigmask(SIG_SETMASK, &saved, NULL);
  if (rc != 0) return rc;
  return pthread_join(tid, NULL);
}

static napi_value failure_object(napi_env env, const char *code, int err, const char *syscall) {
  napi_value out, errno_v;
  char buf[MESSAGE_MAX];
  const char *text = strerror_r(err, buf, sizeof buf);
  NAPI_OK_OR_RETURN(env, napi_create_object(env, &out), NULL);
  NAPI_OK_OR_RETURN(env, set_string_prop(env, out, "code", code), NULL);
  NAPI_OK_OR_RETURN(env, set_string_prop(env, out, "syscall", syscall), NULL);
  NAPI_OK_OR_RETURN(env, set_string_prop(env, out, "message", text), NULL);
  NAPI_OK_OR_RETURN(env, napi_create_int32(env, err, &errno_v), NULL);
  NAPI_OK_OR_RETURN(env, napi_set_named_property(env, out, "errno", errno_v), NULL);
  return out;
}

// (netnsPath, protocol) -> fd | failure. Blocking socket, kernel-assigned port id.
static napi_value open_netlink_in_netns(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK_OR_RETURN(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), NULL);
  if (argc != 2) {
    napi_throw_type_error(env, "E_INVALID_ARGUMENT", "expected 2 arguments");
    return NULL;
  }
  struct nl_open_request r;
  memset(&r, 0, sizeof r);
  if (!get_string(env, argv[0], r.netns_path, sizeof r.netns_path, "netnsPath")) return NULL;
  if (!get_int(env, argv[1], 0, 31, &r.protocol, "protocol")) return NULL;
  int rc = run_on_fresh_thread(nl_open_thread, &r);
  if (rc != 0) return failure_object(env, "E_THREAD", rc, "pthread_create");
  if (r.err != 0) return failure_object(env, r.code, r.err, r.syscall);
  napi_value out;
  NAPI_OK_OR_RETURN(env, napi_create_int32(env, r.fd, &out), NULL);
  return out;
}

// (path) -> true | failure
static napi_value create_netns_at(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK_OR_RETURN(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), NULL);
  struct netns_create_request r;
  memset(&r, 0, sizeof r);
  if (argc != 1 || !get_string(env, argv[0], r.path, sizeof r.path, "path")) return NULL;
  int rc = run_on_fresh_thread(netns_create_thread, &r);
  if (rc != 0) return failure_object(env, "E_THREAD", rc, "pthread_create");
  if (r.err != 0) return failure_object(env, r.code, r.err, r.syscall);
  napi_value out;
  NAPI_OK_OR_RETURN(env, napi_get_boolean(env, true, &out), NULL);
  return out;
}

// (path) -> true | failure. Lazy unmount: the namespace dies with its last user.
static napi_value delete_netns_at(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char path[PATH_MAX];
  NAPI_OK_OR_RETURN(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), NULL);
  if (argc != 1 || !get_string(env, argv[0], path, sizeof path, "path")) return NULL;
  if (umount2(path, MNT_DETACH) != 0 && errno != EINVAL) {
    if (errno != ENOENT) return failure_object(env, "E_NETNS_DELETE", errno, "umount2");
  }
  if (unlink(path) != 0 && errno != ENOENT) return failure_object(env, "E_NETNS_DELETE", errno, "unlink");
  napi_value out;
  NAPI_OK_OR_RETURN(env, napi_get_boolean(env, true, &out), NULL);
  return out;
}

struct nl_reply {
  char *data;
  size_t len;
};

struct nl_transact {
  int fd;
  char *request;
  size_t request_len;
  struct nl_reply *replies;
  size_t count;
  size_t cap;
  int err;
  const char *code;
  const char *syscall;
  napi_deferred deferred;
  napi_async_work work;
};

static int seq_cmp(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static void transact_fail(struct nl_transact *t, int err, const char *code, const char *syscall) {
  t->err = err;
  t->code = code;
  t->syscall = syscall;
}

// Sends one datagram holding any number of requests, then reads until every request that asked
// for an answer (ACK or DUMP) got its terminal message (ERROR/ack or DONE).
static void transact_execute(napi_env env, void *data) {
  (void)env;
  struct nl_transact *t = data;
  uint32_t *pending = calloc(NL_MAX_PENDING, sizeof *pending);
  bool *done = NULL;
  size_t npending = 0;
  if (pending == NULL) return transact_fail(t, ENOMEM, "E_NOMEM", "calloc");
  for (size_t off = 0; off + sizeof(struct nlmsghdr) <= t->request_len;) {
    struct nlmsghdr *h = (struct nlmsghdr *)(t->request + off);
    if (h->nlmsg_len < sizeof *h || off + h->nlmsg_len > t->request_len) {
      free(pending);
      return transact_fail(t, EINVAL, "E_INVALID_ARGUMENT", "parse request");
    }
    if ((h->nlmsg_flags & (NLM_F_ACK | NLM_F_DUMP)) && npending < NL_MAX_PENDING) pending[npending++] = h->nlmsg_seq;
    off += NLMSG_ALIGN(h->nlmsg_len);
  }
  qsort(pending, npending, sizeof *pending, seq_cmp);
  done = calloc(npending + 1, sizeof *done);
  if (done == NULL) {
    free(pending);
    return transact_fail(t, ENOMEM, "E_NOMEM", "calloc");
  }
  struct sockaddr_nl kernel;
  memset(&kernel, 0, sizeof kernel);
  kernel.nl_family = AF_NETLINK;
  struct iovec iov = {t->request, t->request_len};
  struct msghdr msg = {&kernel, sizeof kernel, &iov, 1, NULL, 0, 0};
  ssize_t sent;
  do {
    sent = sendmsg(t->fd, &msg, 0);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    free(pending);
    free(done);
    return transact_fail(t, errno, "E_NETLINK_SEND", "sendmsg");
  }
  size_t remaining = npending;
  while (remaining > 0) {
    struct pollfd pfd = {t->fd, POLLIN, 0};
    int pr;
    do {
      pr = poll(&pfd, 1, NL_REPLY_TIMEOUT_MS);
    } while (pr < 0 && errno == EINTR);
    if (pr <= 0) {
      transact_fail(t, pr == 0 ? ETIMEDOUT : errno, "E_NETLINK_RECV", "poll");
      break;
    }
    char peek;
    ssize_t size;
    do {
      size = recv(t->fd, &peek, 1, MSG_PEEK | MSG_TRUNC);
    } while (size < 0 && errno == EINTR);
    if (size < 0) {
      transact_fail(t, errno, "E_NETLINK_RECV", "recv");
      break;
    }
    char *buf = malloc(size > 0 ? (size_t)size : 1);
    if (buf == NULL) {
      transact_fail(t, ENOMEM, "E_NOMEM", "malloc");
      break;
    }
    do {
      size = recv(t->fd, buf, (size_t)size, 0);
    } while (size < 0 && errno == EINTR);
    if (size < 0) {
      free(buf);
      transact_fail(t, errno, "E_NETLINK_RECV", "recv");
      break;
    }
    if (t->count == t->cap) {
      size_t cap = t->cap ? t->cap * 2 : 16;
      struct nl_reply *grown = realloc(t->replies, cap * sizeof *grown);
      if (grown == NULL) {
        free(buf);
        transact_fail(t, ENOMEM, "E_NOMEM", "realloc");
        break;
      }
      t->replies = grown;
      t->cap = cap;
    }
    t->replies[t->count].data = buf;
    t->replies[t->count].len = (size_t)size;
    t->count++;
    for (size_t off = 0; off + sizeof(struct nlmsghdr) <= (size_t)size;) {
      struct nlmsghdr *h = (struct nlmsghdr *)(buf + off);
      if (h->nlmsg_len < sizeof *h) break;
      if (h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_DONE) {
        uint32_t *hit = bsearch(&h->nlmsg_seq, pending, npending, sizeof *pending, seq_cmp);
        if (hit != NULL && !done[hit - pending]) {
          done[hit - pending] = true;
          remaining--;
        }
      }
      off += NLMSG_ALIGN(h->nlmsg_len);
    }
  }
  free(pending);
  free(done);
}

static void free_transact(struct nl_transact *t) {
  for (size_t i = 0; i < t->count; i++) free(t->replies[i].data);
  free(t->replies);
  free(t->request);
  free(t);
}

static void transact_complete(napi_env env, napi_status status, void *data) {
  struct nl_transact *t = data;
  napi_value result = NULL;
  if (status != napi_ok) {
    transact_fail(t, ECANCELED, "E_NETLINK_RECV", "async work");
  }
  if (t->err != 0) {
    result = failure_object(env, t->code, t->err, t->syscall);
  } else if (napi_create_array_with_length(env, t->count, &result) == napi_ok) {
    for (size_t i = 0; i < t->count; i++) {
      napi_value buf;
      void *copy;
      if (napi_create_buffer_copy(env, t->replies[i].len, t->replies[i].data, &copy, &buf) != napi_ok ||
          napi_set_element(env, result, (uint32_t)i, buf) != napi_ok) {
        result = NULL;
        break;
      }
    }
  }
  if (result != NULL) {
    napi_resolve_deferred(env, t->deferred, result);
  } else {
    reject_with_pending_or(env, t->deferred, "netlinkTransact could not build its result");
  }
  napi_delete_async_work(env, t->work);
  free_transact(t);
}

// (fd, Buffer of concatenated nlmsgs) -> Promise<Buffer[] | failure>
static napi_value netlink_transact_async(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK_OR_RETURN(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), NULL);
  int fd = -1;
  if (argc != 2 || !get_int(env, argv[0], 0, INT_MAX, &fd, "fd")) return NULL;
  bool is_buffer = false;
  void *bytes = NULL;
  size_t len = 0;
  if (napi_is_buffer(env, argv[1], &is_buffer) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, argv[1], &bytes, &len) != napi_ok || len == 0) {
    napi_throw_type_error(env, "E_INVALID_ARGUMENT", "request must be a non-empty Buffer");
    return NULL;
  }
  struct nl_transact *t = calloc(1, sizeof *t);
  if (t == NULL || (t->request = malloc(len)) == NULL) {
    free(t);
    napi_throw_error(env, "E_NOMEM", "out of memory");
    return NULL;
  }
  memcpy(t->request, bytes, len);
  t->request_len = len;
  t->fd = fd;
  napi_value promise, name;
  if (napi_create_promise(env, &t->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "berth:netlinkTransact", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, transact_execute, transact_complete, t, &t->work) != napi_ok) {
    free_transact(t);
    NAPI_OK_OR_RETURN(env, napi_generic_failure, NULL);
  }
  if (napi_queue_async_work(env, t->work) != napi_ok) {
    napi_delete_async_work(env, t->work);
    free_transact(t);
    NAPI_OK_OR_RETURN(env, napi_generic_failure, NULL);
  }
  return promise;
}

// ---- unix datagrams (sd_notify) -----------------------------------------------------------

// (path, data: Buffer) -> true | failure. One datagram to a unix datagram socket, on a socket
// opened for the call (as sd_notify does): the service manager's NOTIFY_SOCKET. A path that
// starts with '@' names the abstract namespace. MSG_DONTWAIT: a full receiver fails the send
// with EAGAIN instead of blocking the event loop.
static napi_value send_unix_datagram(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  struct sockaddr_un addr;
  char path[sizeof addr.sun_path + 1];
  NAPI_OK_OR_RETURN(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), NULL);
  if (argc != 2 || !get_string(env, argv[0], path, sizeof path, "path")) {
    if (argc != 2) napi_throw_type_error(env, "E_INVALID_ARGUMENT", "expected 2 arguments");
    return NULL;
  }
  bool is_buffer = false;
  void *data = NULL;
  size_t len = 0;
  if (napi_is_buffer(env, argv[1], &is_buffer) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, "E_INVALID_ARGUMENT", "data must be a Buffer");
    return NULL;
  }
  size_t path_len = strlen(path);
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path, path_len);
  if (path[0] == '@') addr.sun_path[0] = '\0';
  socklen_t addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return failure_object(env, "E_SOCKET", errno, "socket");
  ssize_t sent = sendto(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&addr, addr_len);
  int err = errno;
  close(fd);
  if (sent < 0) return failure_object(env, "E_SEND", err, "sendto");
  napi_value out;
  NAPI_OK_OR_RETURN(env, napi_get_boolean(env, true, &out), NULL);
  return out;
}

// glibc's malloc keeps what the process frees: a block freed in the middle of the heap is not
// given back, and its mmap threshold rises (up to 32 MiB) after each large block freed, so the
// megabyte Buffers of a gossip bulk sync come from the heap and stay resident once freed. A fixed
// threshold sends them to mmap (returned at free); fewer arenas bound the per-thread heaps.
static napi_value tune_malloc(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t mmap_threshold = 0, arena_max = 0;
  NAPI_OK_OR_RETURN(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), NULL);
  if (argc != 2 || napi_get_value_int32(env, argv[0], &mmap_threshold) != napi_ok || napi_get_value_int32(env, argv[1], &arena_max) != napi_ok ||
      mmap_threshold <= 0 || arena_max <= 0) {
    napi_throw_type_error(env, "E_INVALID_ARGUMENT", "expected a positive mmap threshold and arena count");
    return NULL;
  }
  bool ok = mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1 && mallopt(M_ARENA_MAX, arena_max) == 1;
  napi_value out;
  NAPI_OK_OR_RETURN(env, napi_get_boolean(env, ok, &out), NULL);
  return out;
}

// malloc_trim(0) gives the free pages of every arena back to the kernel (madvise), also those in
// the middle of a heap that the top-of-heap trim at free() never reaches.
static napi_value release_free_memory(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  NAPI_OK_OR_RETURN(env, napi_get_boolean(env, malloc_trim(0) == 1, &out), NULL);
  return out;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
      {"openSocketInNetns", NULL, open_socket_in_netns_sync, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openSocketInNetnsAsync", NULL, open_socket_in_netns_async, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openNetlinkInNetns", NULL, open_netlink_in_netns, NULL, NULL, NULL, napi_enumerable, NULL},
      {"netlinkTransactAsync", NULL, netlink_transact_async, NULL, NULL, NULL, napi_enumerable, NULL},
      {"createNetnsAt", NULL, create_netns_at, NULL, NULL, NULL, napi_enumerable, NULL},
      {"deleteNetnsAt", NULL, delete_netns_at, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendUnixDatagram", NULL, send_unix_datagram, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tuneMalloc", NULL, tune_malloc, NULL, NULL, NULL, napi_enumerable, NULL},
      {"releaseFreeMemory", NULL, release_free_memory, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  NAPI_OK_OR_RETURN(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props), NULL);
  if (!dns_udp_define(env, exports)) return NULL;
  return exports;
}

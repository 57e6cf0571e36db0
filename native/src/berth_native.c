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
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <node_api.h>

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
    napi_value msg, err;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_get_and_clear_last_exception(env, &err);
    } else {
      napi_create_string_utf8(env, "openSocketInNetns async work did not complete", NAPI_AUTO_LENGTH, &msg);
      napi_create_error(env, NULL, msg, &err);
    }
    napi_reject_deferred(env, a->deferred, err);
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

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
      {"openSocketInNetns", NULL, open_socket_in_netns_sync, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openSocketInNetnsAsync", NULL, open_socket_in_netns_async, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  NAPI_OK_OR_RETURN(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props), NULL);
  return exports;
}

// dns_udp: the embedded DNS's UDP socket served from C on the main event loop.
//
// A Node dgram socket costs a libuv read, a Buffer, an rinfo object, an event emit and a send
// request per datagram; that per-message overhead, not the answering, is what held berth's
// DNS under a bare one-thread Node responder. Nearly every query repeats one whose reply is
// already known, so here the socket is read with recvmmsg, a repeated query (the same bytes
// after its ID, while the name table's generation is unchanged) is answered from a reply the
// JavaScript server handed in earlier, with the ID taken from the query by iovec (no copy), and
// the batch goes out with one sendmmsg. Everything else (first sight of a question, forwarded
// names, malformed datagrams) goes to JavaScript unchanged, with the peer's address as bytes
// for the reply. Only the main thread touches a socket (uv_poll on the Node loop), so the
// scratch below is per thread and unshared.
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#include "dns_udp.h"

#define BATCH 32
/** The largest UDP payload: nothing a client sends is cut. Pages untouched stay unresident. */
#define RECV_SLOT 65536
/** Replies kept are at most the EDNS size berth answers with (dns/wire.ts EDNS_UDP_MAX). */
#define REPLY_MAX 4096
/** Queries longer than this (ID included) are never kept (dns/server.ts CACHE_MAX_QUERY_BYTES). */
#define QUERY_MAX 300
/** Batches read per wakeup before yielding to the rest of the event loop. */
#define ROUNDS_PER_WAKEUP 8
#define ID_BYTES 2
#define MAX_SHUFFLED 1024

struct cached_reply {
  uint8_t *data; // key bytes, then reply bytes, then rdata offsets (uint16 each); NULL: empty slot
  double generation;
  uint32_t hash;
  uint16_t key_len;
  uint16_t reply_len;
  uint16_t n_rdata;
  uint16_t rdata_len;
};

struct dns_udp {
  uv_poll_t poll;
  napi_env env;
  napi_ref on_query;
  napi_ref generation_fn;
  napi_ref hits_ref;
  double *hits;
  napi_async_context async_ctx;
  int fd;
  /** Stopped (dnsUdpClose or the finalizer); the memory lives until both below are true. */
  bool closed;
  bool loop_released;
  bool finalized;
  struct cached_reply *slots;
  uint32_t cap;
  uint32_t count;
  uint32_t max_entries;
  uint64_t rng;
};

struct scratch {
  struct mmsghdr in[BATCH];
  struct iovec in_iov[BATCH];
  struct sockaddr_in6 peers[BATCH];
  uint8_t *recv; // BATCH * RECV_SLOT
  struct mmsghdr out[BATCH];
  struct iovec out_iov[BATCH][2];
  uint8_t shuffled[BATCH][REPLY_MAX];
};

static __thread struct scratch *scratch_tls;

static struct scratch *get_scratch(void) {
  if (scratch_tls != NULL) return scratch_tls;
  struct scratch *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->recv = malloc((size_t)BATCH * RECV_SLOT);
  if (s->recv == NULL) {
    free(s);
    return NULL;
  }
  scratch_tls = s;
  return s;
}

static uint32_t hash_key(const uint8_t *p, size_t n) {
  uint32_t h = 2166136261u; // FNV-1a
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

static uint64_t next_random(struct dns_udp *u) {
  uint64_t x = u->rng; // xorshift64*
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  u->rng = x;
  return x * 2685821657736338717ull;
}

static void cache_clear(struct dns_udp *u) {
  for (uint32_t i = 0; i < u->cap; i++) free(u->slots[i].data);
  memset(u->slots, 0, (size_t)u->cap * sizeof *u->slots);
  u->count = 0;
}

static struct cached_reply *cache_find(struct dns_udp *u, const uint8_t *key, size_t len, uint32_t h) {
  if (u->cap == 0) return NULL;
  for (uint32_t i = h & (u->cap - 1);; i = (i + 1) & (u->cap - 1)) {
    struct cached_reply *e = &u->slots[i];
    if (e->data == NULL) return e;
    if (e->hash == h && e->key_len == len && memcmp(e->data, key, len) == 0) return e;
  }
}

static bool cache_grow(struct dns_udp *u) {
  uint32_t cap = u->cap ? u->cap * 2 : 8;
  struct cached_reply *old = u->slots;
  uint32_t old_cap = u->cap;
  struct cached_reply *slots = calloc(cap, sizeof *slots);
  if (slots == NULL) return false;
  u->slots = slots;
  u->cap = cap;
  for (uint32_t i = 0; i < old_cap; i++) {
    if (old[i].data == NULL) continue;
    *cache_find(u, old[i].data, old[i].key_len, old[i].hash) = old[i];
  }
  free(old);
  return true;
}

// ---- serving ------------------------------------------------------------------------------

static void raise_pending(napi_env env) {
  bool pending = false;
  napi_value err;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending && napi_get_and_clear_last_exception(env, &err) == napi_ok) {
    napi_fatal_exception(env, err);
  }
}

static double current_generation(struct dns_udp *u) {
  napi_value fn, undef, out;
  double g = -1; // matches nothing: a failed read serves nothing from the cache
  if (napi_get_reference_value(u->env, u->generation_fn, &fn) != napi_ok || napi_get_undefined(u->env, &undef) != napi_ok) return g;
  if (napi_call_function(u->env, undef, fn, 0, NULL, &out) != napi_ok || napi_get_value_double(u->env, out, &g) != napi_ok) {
    raise_pending(u->env);
    return -1;
  }
  return g;
}

static void hand_to_js(struct dns_udp *u, const uint8_t *msg, size_t len, const struct sockaddr_in6 *peer, socklen_t peer_len) {
  napi_env env = u->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, global, argv[2], out;
  void *copy;
  // napi_make_callback wants an object as `this`.
  if (napi_get_reference_value(env, u->on_query, &fn) == napi_ok && napi_get_global(env, &global) == napi_ok &&
      napi_create_buffer_copy(env, len, msg, &copy, &argv[0]) == napi_ok &&
      napi_create_buffer_copy(env, peer_len, peer, &copy, &argv[1]) == napi_ok) {
    if (napi_make_callback(env, u->async_ctx, global, fn, 2, argv, &out) != napi_ok) raise_pending(env);
  }
  napi_close_handle_scope(env, scope);
}

static void send_all(int fd, struct mmsghdr *out, unsigned n) {
  unsigned sent = 0;
  while (sent < n) {
    int r = sendmmsg(fd, out + sent, n - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r > 0) {
      sent += (unsigned)r;
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return; // a full send buffer drops the rest, as UDP may
    } else {
      sent++; // one datagram the kernel refused (a peer gone): the rest still go
    }
  }
}

/** Builds the reply to the query in slot i from e into out slot k. */
static void prepare_hit(struct dns_udp *u, struct scratch *s, unsigned i, unsigned k, const struct cached_reply *e) {
  uint8_t *query = s->recv + (size_t)i * RECV_SLOT;
  const uint8_t *reply = e->data + e->key_len;
  struct mmsghdr *m = &s->out[k];
  memset(&m->msg_hdr, 0, sizeof m->msg_hdr);
  m->msg_hdr.msg_name = &s->peers[i];
  m->msg_hdr.msg_namelen = s->in[i].msg_hdr.msg_namelen;
  m->msg_hdr.msg_iov = s->out_iov[k];
  if (e->n_rdata < 2) {
    s->out_iov[k][0] = (struct iovec){.iov_base = query, .iov_len = ID_BYTES};
    s->out_iov[k][1] = (struct iovec){.iov_base = (void *)(reply + ID_BYTES), .iov_len = e->reply_len - ID_BYTES};
    m->msg_hdr.msg_iovlen = 2;
    return;
  }
  // Several addresses: Fisher–Yates over them, read from the kept reply into a copy.
  uint8_t *copy = s->shuffled[k];
  memcpy(copy, reply, e->reply_len);
  copy[0] = query[0];
  copy[1] = query[1];
  const uint8_t *offs = e->data + e->key_len + e->reply_len;
  uint16_t order[MAX_SHUFFLED];
  for (uint16_t j = 0; j < e->n_rdata; j++) order[j] = j;
  for (uint32_t j = e->n_rdata - 1u; j > 0; j--) {
    uint32_t r = (uint32_t)(((next_random(u) >> 32) * (uint64_t)(j + 1)) >> 32);
    uint16_t t = order[j];
    order[j] = order[r];
    order[r] = t;
  }
  for (uint16_t j = 0; j < e->n_rdata; j++) {
    uint16_t to, from;
    memcpy(&to, offs + 2u * j, 2);
    memcpy(&from, offs + 2u * order[j], 2);
    memcpy(copy + to, reply + from, e->rdata_len);
  }
  s->out_iov[k][0] = (struct iovec){.iov_base = copy, .iov_len = e->reply_len};
  m->msg_hdr.msg_iovlen = 1;
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  struct dns_udp *u = handle->data;
  if (u->closed) return;
  if (status < 0) {
    // libuv stops the handle on POLLERR; a socket error concerns one datagram, not the socket.
    int err = 0;
    socklen_t len = sizeof err;
    (void)getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    uv_poll_start(&u->poll, UV_READABLE, on_readable);
    return;
  }
  struct scratch *s = get_scratch();
  if (s == NULL) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(u->env, &scope) != napi_ok) return;
  double generation = current_generation(u);
  for (int round = 0; round < ROUNDS_PER_WAKEUP && !u->closed; round++) {
    for (unsigned i = 0; i < BATCH; i++) {
      s->in_iov[i] = (struct iovec){.iov_base = s->recv + (size_t)i * RECV_SLOT, .iov_len = RECV_SLOT};
      memset(&s->in[i], 0, sizeof s->in[i]);
      s->in[i].msg_hdr.msg_iov = &s->in_iov[i];
      s->in[i].msg_hdr.msg_iovlen = 1;
      s->in[i].msg_hdr.msg_name = &s->peers[i];
      s->in[i].msg_hdr.msg_namelen = sizeof s->peers[i];
    }
    int n = recvmmsg(u->fd, s->in, BATCH, MSG_DONTWAIT, NULL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    unsigned pending = 0;
    for (unsigned i = 0; i < (unsigned)n && !u->closed; i++) {
      const uint8_t *msg = s->recv + (size_t)i * RECV_SLOT;
      size_t len = s->in[i].msg_len;
      if (len > ID_BYTES && len <= QUERY_MAX) {
        uint32_t h = hash_key(msg + ID_BYTES, len - ID_BYTES);
        struct cached_reply *e = cache_find(u, msg + ID_BYTES, len - ID_BYTES, h);
        if (e != NULL && e->data != NULL && e->generation == generation) {
          prepare_hit(u, s, i, pending++, e);
          *u->hits += 1;
          continue;
        }
      }
      // JavaScript may change the cache (or close the socket) while it answers: what was
      // prepared from the cache leaves first.
      send_all(u->fd, s->out, pending);
      pending = 0;
      hand_to_js(u, msg, len, &s->peers[i], s->in[i].msg_hdr.msg_namelen);
      if (!u->closed) generation = current_generation(u);
    }
    if (!u->closed) send_all(u->fd, s->out, pending);
    if ((unsigned)n < BATCH) break;
  }
  napi_close_handle_scope(u->env, scope);
}

// ---- N-API --------------------------------------------------------------------------------

static void throw_invalid(napi_env env, const char *msg) {
  napi_throw_type_error(env, "E_INVALID_ARGUMENT", msg);
}

static struct dns_udp *get_handle(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    throw_invalid(env, "expected a DNS UDP handle");
    return NULL;
  }
  return p;
}

static void free_handle(struct dns_udp *u) {
  cache_clear(u);
  free(u->slots);
  free(u);
}

static void on_loop_released(uv_handle_t *h) {
  struct dns_udp *u = h->data;
  u->loop_released = true;
  if (u->finalized) free_handle(u);
}

static void stop(struct dns_udp *u) {
  if (u->closed) return;
  u->closed = true;
  uv_poll_stop(&u->poll);
  napi_delete_reference(u->env, u->on_query);
  napi_delete_reference(u->env, u->generation_fn);
  napi_delete_reference(u->env, u->hits_ref);
  u->hits = NULL;
  napi_async_destroy(u->env, u->async_ctx);
  // uv_close unregisters the fd from the loop at once; only the memory waits for the callback.
  uv_close((uv_handle_t *)&u->poll, on_loop_released);
  close(u->fd);
  u->fd = -1;
}

static void finalize_handle(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  struct dns_udp *u = data;
  u->finalized = true;
  stop(u);
  if (u->loop_released) free_handle(u);
}

static bool get_buffer(napi_env env, napi_value v, uint8_t **data, size_t *len, const char *what) {
  bool ok = false;
  if (napi_is_buffer(env, v, &ok) != napi_ok || !ok || napi_get_buffer_info(env, v, (void **)data, len) != napi_ok) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a Buffer", what);
    throw_invalid(env, msg);
    return false;
  }
  return true;
}

static napi_value make_failure(napi_env env, int err, const char *syscall) {
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_string_utf8(env, "E_SOCKET", NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, out, "code", v);
  napi_create_int32(env, err, &v);
  napi_set_named_property(env, out, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, out, "syscall", v);
  napi_create_string_utf8(env, strerror(err), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, out, "message", v);
  return out;
}

// (fd, onQuery(msg, peer), generation(): number, hits: Float64Array, recvBufferBytes, maxEntries)
//   -> { handle, port } | failure. Takes the fd: it is closed by dnsUdpClose.
static napi_value dns_udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 6) {
    throw_invalid(env, "dnsUdpOpen expects 6 arguments");
    return NULL;
  }
  int32_t fd = -1, rcvbuf = 0, max_entries = 0;
  napi_valuetype t1, t2;
  napi_typedarray_type ta_type;
  size_t ta_len = 0;
  void *ta_data = NULL;
  bool is_ta = false;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 || napi_typeof(env, argv[1], &t1) != napi_ok || t1 != napi_function ||
      napi_typeof(env, argv[2], &t2) != napi_ok || t2 != napi_function || napi_is_typedarray(env, argv[3], &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, argv[3], &ta_type, &ta_len, &ta_data, NULL, NULL) != napi_ok || ta_type != napi_float64_array || ta_len < 1 ||
      napi_get_value_int32(env, argv[4], &rcvbuf) != napi_ok || napi_get_value_int32(env, argv[5], &max_entries) != napi_ok || max_entries < 1) {
    throw_invalid(env, "dnsUdpOpen(fd, onQuery, generation, hits: Float64Array, recvBufferBytes, maxEntries)");
    return NULL;
  }
  struct sockaddr_storage local;
  socklen_t local_len = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &local_len) != 0) return make_failure(env, errno, "getsockname");
  int port = local.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&local)->sin6_port) : ntohs(((struct sockaddr_in *)&local)->sin_port);
  // Capped by net.core.rmem_max; the default still works.
  if (rcvbuf > 0) (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  uv_loop_t *loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || get_scratch() == NULL) {
    napi_throw_error(env, "E_NOMEM", "dnsUdpOpen: no event loop or out of memory");
    return NULL;
  }
  struct dns_udp *u = calloc(1, sizeof *u);
  if (u == NULL) {
    napi_throw_error(env, "E_NOMEM", "out of memory");
    return NULL;
  }
  u->env = env;
  u->fd = fd;
  u->max_entries = (uint32_t)max_entries;
  u->hits = ta_data;
  if (getrandom(&u->rng, sizeof u->rng, GRND_NONBLOCK) != (ssize_t)sizeof u->rng) u->rng = (uint64_t)time(NULL) ^ (uintptr_t)u;
  u->rng |= 1;
  napi_value resource, name, handle, out, port_v;
  int rc = uv_poll_init_socket(loop, &u->poll, fd);
  if (rc != 0) {
    free(u);
    return make_failure(env, -rc, "uv_poll_init");
  }
  u->poll.data = u;
  if (napi_create_reference(env, argv[1], 1, &u->on_query) != napi_ok || napi_create_reference(env, argv[2], 1, &u->generation_fn) != napi_ok ||
      napi_create_reference(env, argv[3], 1, &u->hits_ref) != napi_ok || napi_create_object(env, &resource) != napi_ok ||
      napi_create_string_utf8(env, "berth:dnsUdp", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, resource, name, &u->async_ctx) != napi_ok ||
      napi_create_external(env, u, finalize_handle, NULL, &handle) != napi_ok || napi_create_object(env, &out) != napi_ok ||
      napi_create_int32(env, port, &port_v) != napi_ok || napi_set_named_property(env, out, "handle", handle) != napi_ok ||
      napi_set_named_property(env, out, "port", port_v) != napi_ok) {
    // Only reachable when N-API itself fails; the handle is left to the loop's teardown.
    return NULL;
  }
  uv_poll_start(&u->poll, UV_READABLE, on_readable);
  return out;
}

// (handle, reply: Buffer, peer: Buffer) -> boolean (false: dropped, or closed)
static napi_value dns_udp_send(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], out;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3) {
    throw_invalid(env, "dnsUdpSend expects 3 arguments");
    return NULL;
  }
  struct dns_udp *u = get_handle(env, argv[0]);
  uint8_t *reply, *peer;
  size_t reply_len, peer_len;
  if (u == NULL || !get_buffer(env, argv[1], &reply, &reply_len, "reply") || !get_buffer(env, argv[2], &peer, &peer_len, "peer")) return NULL;
  bool ok = false;
  if (!u->closed && peer_len <= sizeof(struct sockaddr_in6)) {
    ssize_t r;
    do r = sendto(u->fd, reply, reply_len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)peer, (socklen_t)peer_len);
    while (r < 0 && errno == EINTR);
    ok = r >= 0;
  }
  napi_get_boolean(env, ok, &out);
  return out;
}

// (handle, query: Buffer, reply: Buffer, generation: number, rdataOffsets: Uint16Array | null, rdataLength)
//   -> boolean (false: not kept: too long, too many records, or out of memory)
static napi_value dns_udp_remember(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], out;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 6) {
    throw_invalid(env, "dnsUdpRemember expects 6 arguments");
    return NULL;
  }
  struct dns_udp *u = get_handle(env, argv[0]);
  uint8_t *query, *reply;
  size_t query_len, reply_len;
  double generation;
  int32_t rdata_len = 0;
  if (u == NULL || !get_buffer(env, argv[1], &query, &query_len, "query") || !get_buffer(env, argv[2], &reply, &reply_len, "reply")) return NULL;
  if (napi_get_value_double(env, argv[3], &generation) != napi_ok || napi_get_value_int32(env, argv[5], &rdata_len) != napi_ok || rdata_len < 0) {
    throw_invalid(env, "generation and rdataLength must be numbers");
    return NULL;
  }
  uint16_t *offsets = NULL;
  size_t n_offsets = 0;
  napi_valuetype t;
  napi_typeof(env, argv[4], &t);
  if (t != napi_null && t != napi_undefined) {
    napi_typedarray_type ta_type;
    bool is_ta = false;
    if (napi_is_typedarray(env, argv[4], &is_ta) != napi_ok || !is_ta ||
        napi_get_typedarray_info(env, argv[4], &ta_type, &n_offsets, (void **)&offsets, NULL, NULL) != napi_ok || ta_type != napi_uint16_array) {
      throw_invalid(env, "rdataOffsets must be a Uint16Array or null");
      return NULL;
    }
  }
  bool kept = false;
  bool fits = !u->closed && query_len > ID_BYTES && query_len <= QUERY_MAX && reply_len > ID_BYTES && reply_len <= REPLY_MAX &&
              n_offsets <= MAX_SHUFFLED;
  for (size_t j = 0; fits && j < n_offsets; j++) fits = offsets[j] + (size_t)rdata_len <= reply_len && offsets[j] >= ID_BYTES;
  if (fits) {
    size_t key_len = query_len - ID_BYTES;
    uint8_t *data = malloc(key_len + reply_len + 2 * n_offsets);
    if (data != NULL) {
      memcpy(data, query + ID_BYTES, key_len);
      memcpy(data + key_len, reply, reply_len);
      if (n_offsets > 0) memcpy(data + key_len + reply_len, offsets, 2 * n_offsets);
      uint32_t h = hash_key(data, key_len);
      struct cached_reply *e = cache_find(u, data, key_len, h);
      if (e != NULL && e->data != NULL) {
        free(e->data);
      } else {
        // Starts over when full, as the JavaScript cache does: cheaper than an LRU here.
        if (u->count >= u->max_entries) cache_clear(u);
        if ((u->count + 1) * 2 > u->cap && !cache_grow(u)) {
          free(data);
          data = NULL;
        } else {
          e = cache_find(u, data, key_len, h);
          u->count++;
        }
      }
      if (data != NULL) {
        *e = (struct cached_reply){.data = data, .generation = generation, .hash = h, .key_len = (uint16_t)key_len, .reply_len = (uint16_t)reply_len,
                                   .n_rdata = (uint16_t)n_offsets, .rdata_len = (uint16_t)rdata_len};
        kept = true;
      }
    }
  }
  napi_get_boolean(env, kept, &out);
  return out;
}

// (handle) -> number: replies kept now
static napi_value dns_udp_cached(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct dns_udp *u = argc == 1 ? get_handle(env, argv[0]) : NULL;
  if (u == NULL) return NULL;
  napi_create_uint32(env, u->closed ? 0 : u->count, &out);
  return out;
}

// (handle) -> undefined. Stops reading and closes the fd at once; idempotent.
static napi_value dns_udp_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct dns_udp *u = argc == 1 ? get_handle(env, argv[0]) : NULL;
  if (u != NULL) stop(u);
  return NULL;
}

bool dns_udp_define(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"dnsUdpOpen", NULL, dns_udp_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"dnsUdpSend", NULL, dns_udp_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"dnsUdpRemember", NULL, dns_udp_remember, NULL, NULL, NULL, napi_enumerable, NULL},
      {"dnsUdpCached", NULL, dns_udp_cached, NULL, NULL, NULL, napi_enumerable, NULL},
      {"dnsUdpClose", NULL, dns_udp_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props) == napi_ok;
}

// The embedded DNS's UDP fast path (dns_udp.c): defines its functions on the addon's exports.
#pragma once
#include <stdbool.h>
#include <node_api.h>

bool dns_udp_define(napi_env env, napi_value exports);

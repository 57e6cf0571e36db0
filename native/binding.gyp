{
  "targets": [
    {
      "target_name": "berth_native",
      "sources": ["src/berth_native.c", "src/dns_udp.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "libraries": ["-lpthread"]
    }
  ]
}

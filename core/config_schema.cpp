#include "core/config_schema.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/redact.h"
#include "core/strings.h"

namespace outpost {
namespace {

#define FIELD(member) [](Config& c) -> FieldRef { return &c.member; }

std::vector<KeyDef> buildSchema() {
  return {
      // --- Identity and mode -------------------------------------------------------------
      {.key = "api_key",
       .default_value = std::string(),
       .description = "Datadog API key. Empty: local mode, data is collected and kept for the "
                      "query socket but nothing is forwarded.",
       .field = FIELD(api_key),
       .secret = true},
      {.key = "site",
       .default_value = std::string("datadoghq.com"),
       .description = "Datadog site the intake hosts are derived from (datadoghq.com, "
                      "datadoghq.eu, us3.datadoghq.com, us5.datadoghq.com, ap1.datadoghq.com, "
                      "ddog-gov.com).",
       .field = FIELD(site)},
      {.key = "dd_url",
       .default_value = std::string(),
       .description = "Overrides the metrics intake URL derived from site (a full URL or "
                      "host:port).",
       .field = FIELD(dd_url)},
      {.key = "hostname",
       .default_value = std::string(),
       .description = "Host name attached to everything sent. Empty: the machine's host name.",
       .field = FIELD(hostname)},
      {.key = "tags",
       .default_value = StringList{},
       .description = "Host tags (key:value) added to every metric, log and trace. DD_TAGS is "
                      "space-separated.",
       .field = FIELD(tags)},
      {.key = "host_aliases",
       .default_value = StringList{},
       .description = "Other names of this host, sent in the host metadata so the backend "
                      "merges them. DD_HOST_ALIASES is space-separated.",
       .field = FIELD(host_aliases)},
      {.key = "env",
       .default_value = std::string(),
       .description = "Environment of this host (adds env:<value> where the Datadog Agent does).",
       .field = FIELD(env)},
      {.key = "log_level",
       .default_value = std::string("info"),
       .description = "Agent log verbosity on stderr (journald under systemd).",
       .field = FIELD(log_level),
       .choices = {"trace", "debug", "info", "warn", "error", "critical", "off"}},
      // --- Paths ---------------------------------------------------------------------------
      {.key = "run_path",
       .default_value = std::string("/var/lib/outpost"),
       .description = "State directory: the logs registry and the forwarder spool. A relative "
                      "path is taken from the configuration directory.",
       .field = FIELD(run_path)},
      {.key = "procfs_path",
       .default_value = std::string("/proc"),
       .description = "Where the host checks read procfs (another mount of the host's /proc "
                      "when Outpost runs in a container).",
       .field = FIELD(procfs_path)},
      {.key = "confd_path",
       .default_value = std::string(),
       .description = "Directory of check and log-source configurations. Empty: conf.d beside "
                      "outpost.yaml.",
       .field = FIELD(confd_path)},
      {.key = "query_socket",
       .default_value = std::string("/run/outpost/query.sock"),
       .description = "Unix socket of the local query API (mode 0660). A relative path is "
                      "taken from run_path; in local mode the default is run_path/query.sock.",
       .field = FIELD(query_socket)},
      {.key = "query_socket_group",
       .default_value = std::string("outpost"),
       .description = "Group owning the query socket (mode 0660).",
       .field = FIELD(query_socket_group)},
      {.key = "query.max_concurrent_searches",
       .default_value = int64_t{4},
       .description = "Outpost only. Log searches running at once on the query socket, each "
                      "on a thread of its own (not the worker pool, so a long search never "
                      "delays compression); more wait in a queue.",
       .field = FIELD(query.max_concurrent_searches),
       .min = 1,
       .max = 64},
      {.key = "query.max_queued_searches",
       .default_value = int64_t{32},
       .description = "Outpost only. Log searches that may wait for a free search thread; more "
                      "are answered 429.",
       .field = FIELD(query.max_queued_searches),
       .min = 0,
       .max = 10000},
      {.key = "query.search_timeout",
       .default_value = 30.0,
       .description = "Outpost only. Seconds a log search may take from its arrival: a search "
                      "still running then answers what it found with a cursor to go on; one "
                      "still waiting is answered 503.",
       .field = FIELD(query.search_timeout),
       .min = 0.1,
       .max = 3600},
      {.key = "query.results_max_bytes",
       .default_value = int64_t{64} << 20,
       .description = "Outpost only. Bytes of log search results kept beyond each answer's "
                      "limit (read page by page at /v1/logs/results/{id}); the oldest go "
                      "first when newer ones need the room.",
       .field = FIELD(query.results_max_bytes),
       .min = 0,
       .max = int64_t{16} << 30},
      {.key = "query.results_ttl",
       .default_value = 600.0,
       .description = "Outpost only. Seconds kept search results stay readable.",
       .field = FIELD(query.results_ttl),
       .min = 0,
       .max = 86400},
      {.key = "query.cache_ttl",
       .default_value = 10.0,
       .description = "Outpost only. Seconds a log search's answer is reused for the same "
                      "request body (an agent asking again, a refresh); 0 turns the cache "
                      "off. Live files may have grown meanwhile: answers are at most this old.",
       .field = FIELD(query.cache_ttl),
       .min = 0,
       .max = 3600},
      {.key = "query.cache_max_bytes",
       .default_value = int64_t{16} << 20,
       .description = "Outpost only. Bytes of cached search answers; the oldest go first.",
       .field = FIELD(query.cache_max_bytes),
       .min = 0,
       .max = int64_t{4} << 30},
      {.key = "query.search_split_bytes",
       .default_value = int64_t{64} << 20,
       .description = "Outpost only. A plain log file range at least this long is searched "
                      "in two halves at once (a second thread), so one search uses two cores; "
                      "0 keeps every search on one core.",
       .field = FIELD(query.search_split_bytes),
       .min = 0},
      {.key = "query.metrics_retention",
       .default_value = int64_t{3600},
       .description = "Outpost only. Seconds of flushed metrics (10 s resolution) the query "
                      "socket keeps in memory for /v1/metrics/query.",
       .field = FIELD(query.metrics_retention),
       .min = 60,
       .max = 7 * 86400},
      {.key = "query.metrics_max_contexts",
       .default_value = int64_t{10000},
       .description = "Outpost only. Metric contexts (name and tag set) the query socket keeps; "
                      "each costs 8 bytes per 10 s of retention (about 2.9 KB for an hour). New "
                      "contexts beyond it are counted in status and not kept; contexts silent "
                      "for a whole retention are freed. 0 turns the metric store off.",
       .field = FIELD(query.metrics_max_contexts),
       .min = 0},
      {.key = "query.traces_max_bytes",
       .default_value = int64_t{32 << 20},
       .description = "Outpost only. Bytes of recent sampled traces (the requests as received, "
                      "decoded) the query socket keeps for /v1/traces; the oldest go first. 0 "
                      "turns the trace store off.",
       .field = FIELD(query.traces_max_bytes),
       .min = 0},
      {.key = "query.logs_buffer_bytes",
       .default_value = int64_t{8 << 20},
       .description = "Outpost only. Bytes of the most recent processed log lines the query "
                      "socket keeps for /v1/logs/tail (one ring; the oldest lines are "
                      "overwritten). 0 turns it off.",
       .field = FIELD(query.logs_buffer_bytes),
       .min = 0,
       .max = 1 << 30},
      // --- Daemon ---------------------------------------------------------------------------
      {.key = "shutdown_timeout",
       .default_value = int64_t{10},
       .description = "Outpost only. Seconds a graceful stop may take to drain queues and write "
                      "state before the rest is abandoned.",
       .field = FIELD(shutdown_timeout),
       .min = 1,
       .max = 3600},
      {.key = "worker_threads",
       .default_value = int64_t{2},
       .description = "Outpost only. Threads for CPU-heavy work (compression, encoding, search, "
                      "config parsing).",
       .field = FIELD(worker_threads),
       .min = 1,
       .max = 64},
      {.key = "bind_host",
       .default_value = std::string("localhost"),
       .description = "Address the DogStatsD and trace listeners bind to unless their "
                      "non_local_traffic option is set.",
       .field = FIELD(bind_host)},
      // --- Forwarder --------------------------------------------------------------------------
      {.key = "skip_ssl_validation",
       .default_value = false,
       .description = "Do not verify the intake's TLS certificate (logged as a warning).",
       .field = FIELD(skip_ssl_validation)},
      {.key = "additional_endpoints",
       .default_value = StringListMap{},
       .description = "More sites to dual-ship metrics to: a map of URL to a list of API keys.",
       .field = FIELD(additional_endpoints),
       .secret = true},
      {.key = "proxy.http",
       .default_value = std::string(),
       .description = "Proxy URL for http:// requests (credentials in it are redacted).",
       .field = FIELD(proxy.http)},
      {.key = "proxy.https",
       .default_value = std::string(),
       .description = "Proxy URL for https:// requests (credentials in it are redacted).",
       .field = FIELD(proxy.https)},
      {.key = "proxy.no_proxy",
       .default_value = StringList{},
       .description = "Hosts and domains reached without the proxy.",
       .field = FIELD(proxy.no_proxy)},
      {.key = "serializer_compressor_kind",
       .default_value = std::string("zstd"),
       .description = "Compression of metrics payloads: zstd, zlib (deflate), gzip or none.",
       .field = FIELD(serializer_compressor_kind),
       .choices = {"zstd", "zlib", "gzip", "none"}},
      {.key = "serializer_zstd_compressor_level",
       .default_value = int64_t{1},
       .description = "zstd level for metrics payloads (zlib and gzip use 6).",
       .field = FIELD(serializer_zstd_compressor_level),
       .min = 1,
       .max = 19},
      {.key = "forwarder_timeout",
       .default_value = int64_t{20},
       .description = "Seconds before an intake request is abandoned and retried.",
       .field = FIELD(forwarder_timeout),
       .min = 1,
       .max = 3600},
      {.key = "forwarder_num_workers",
       .default_value = int64_t{4},
       .description = "Requests in flight at once per endpoint (the Datadog Agent's default is 1; "
                      "Outpost pipelines more to keep up with a busy host).",
       .field = FIELD(forwarder_num_workers),
       .min = 1,
       .max = 64},
      {.key = "forwarder_backoff_base",
       .default_value = 2.0,
       .description = "Base of the exponential retry backoff, in seconds.",
       .field = FIELD(forwarder_backoff_base),
       .min = 0.001,
       .max = 3600},
      {.key = "forwarder_backoff_factor",
       .default_value = 2.0,
       .description = "Growth factor of the retry backoff per consecutive failure.",
       .field = FIELD(forwarder_backoff_factor),
       .min = 1,
       .max = 100},
      {.key = "forwarder_backoff_max",
       .default_value = 64.0,
       .description = "Longest wait between two retries of one payload, in seconds.",
       .field = FIELD(forwarder_backoff_max),
       .min = 0.001,
       .max = 86400},
      {.key = "forwarder_retry_queue_payloads_max_size",
       .default_value = int64_t{15728640},
       .description = "Bytes of payloads kept in memory for retry before spooling to disk.",
       .field = FIELD(forwarder_retry_queue_payloads_max_size),
       .min = 0},
      {.key = "forwarder_storage_path",
       .default_value = std::string(),
       .description = "Directory of the disk spool. Empty: transactions_to_retry under "
                      "run_path.",
       .field = FIELD(forwarder_storage_path)},
      {.key = "forwarder_storage_max_size_in_bytes",
       .default_value = int64_t{512} * 1024 * 1024,
       .description = "Bytes the disk spool may hold per endpoint; the oldest payloads are "
                      "dropped past it (0: no disk spool). The Datadog Agent's default is 0.",
       .field = FIELD(forwarder_storage_max_size_in_bytes),
       .min = 0},
      {.key = "forwarder_storage_max_disk_ratio",
       .default_value = 0.8,
       .description = "The spool stops growing when its disk is fuller than this ratio.",
       .field = FIELD(forwarder_storage_max_disk_ratio),
       .min = 0,
       .max = 1},
      // --- Logs -------------------------------------------------------------------------------
      {.key = "logs_enabled",
       .default_value = false,
       .description = "Collect the log sources configured in conf.d.",
       .field = FIELD(logs_enabled)},
      {.key = "logs_config.logs_dd_url",
       .default_value = std::string(),
       .description = "Overrides the logs intake (host:port or a full URL).",
       .field = FIELD(logs_config.logs_dd_url)},
      {.key = "logs_config.logs_no_ssl",
       .default_value = false,
       .description = "Use plain HTTP to logs_dd_url.",
       .field = FIELD(logs_config.logs_no_ssl)},
      {.key = "logs_config.additional_endpoints",
       .default_value = LogsEndpointList{},
       .description = "More logs intakes to dual-ship to: a list of {api_key, Host, Port, "
                      "is_reliable, use_ssl}.",
       .field = FIELD(logs_config.additional_endpoints),
       .secret = true},
      {.key = "logs_config.processing_rules",
       .default_value = YamlValue{},
       .description = "Processing rules applied to every log source before its own "
                      "log_processing_rules: a list of {type, name, pattern, "
                      "replace_placeholder}, as in a source.",
       .field = FIELD(logs_config.processing_rules)},
      {.key = "logs_config.compression_kind",
       .default_value = std::string("zstd"),
       .description = "Compression of logs payloads: zstd or gzip.",
       .field = FIELD(logs_config.compression_kind),
       .choices = {"zstd", "gzip"}},
      {.key = "logs_config.zstd_compression_level",
       .default_value = int64_t{1},
       .description = "zstd level of logs payloads.",
       .field = FIELD(logs_config.zstd_compression_level),
       .min = 1,
       .max = 19},
      {.key = "logs_config.file_scan_period",
       .default_value = 10.0,
       .description = "Seconds between scans of log paths for new and rotated files.",
       .field = FIELD(logs_config.file_scan_period),
       .min = 0.1,
       .max = 3600},
      {.key = "logs_config.open_files_limit",
       .default_value = int64_t{500},
       .description = "Most log files tailed at once; the most recently modified win.",
       .field = FIELD(logs_config.open_files_limit),
       .min = 1,
       .max = 100000},
      {.key = "logs_config.close_timeout",
       .default_value = int64_t{60},
       .description = "Seconds a rotated-away file is still read before it is closed.",
       .field = FIELD(logs_config.close_timeout),
       .min = 0,
       .max = 86400},
      {.key = "logs_config.use_compression",
       .default_value = true,
       .description = "Compress log payloads.",
       .field = FIELD(logs_config.use_compression)},
      {.key = "logs_config.compression_level",
       .default_value = int64_t{6},
       .description = "gzip level of logs payloads (with compression_kind: gzip).",
       .field = FIELD(logs_config.compression_level),
       .min = 1,
       .max = 9},
      {.key = "logs_config.batch_max_size",
       .default_value = int64_t{1000},
       .description = "Most log entries in one intake request.",
       .field = FIELD(logs_config.batch_max_size),
       .min = 1,
       .max = 1000},
      {.key = "logs_config.batch_max_content_size",
       .default_value = int64_t{5000000},
       .description = "Most uncompressed bytes in one logs request.",
       .field = FIELD(logs_config.batch_max_content_size),
       .min = 1024,
       .max = 5000000},
      {.key = "logs_config.max_message_size_bytes",
       .default_value = int64_t{256000},
       .description = "Longest log line before it is split.",
       .field = FIELD(logs_config.max_message_size_bytes),
       .min = 1024,
       .max = 5000000},
      {.key = "logs_config.batch_wait",
       .default_value = 5.0,
       .description = "Seconds a logs batch waits for more entries before it is sent.",
       .field = FIELD(logs_config.batch_wait),
       .min = 0.01,
       .max = 60},
      {.key = "logs_config.aggregation_timeout",
       .default_value = int64_t{1000},
       .description = "Milliseconds a multi-line group waits for its next line before it is "
                      "sent as it is.",
       .field = FIELD(logs_config.aggregation_timeout),
       .min = 1,
       .max = 600000},
      {.key = "logs_config.auto_multi_line_detection",
       .default_value = false,
       .description = "Group multi-line logs (stack traces) automatically in every file source "
                      "(a source's auto_multi_line_detection overrides it).",
       .field = FIELD(logs_config.auto_multi_line_detection)},
      {.key = "logs_config.frame_size",
       .default_value = int64_t{9000},
       .description = "Longest line or datagram kept by tcp and udp log sources.",
       .field = FIELD(logs_config.frame_size),
       .min = 256,
       .max = 1048576},
      // --- APM --------------------------------------------------------------------------------
      {
          .key = "apm_config.enabled",
          .default_value = true,
          .description = "Run the trace receiver for Datadog tracers.",
          .field = FIELD(apm_config.enabled),
          .env_aliases = {"DD_APM_ENABLED"},
      },
      {
          .key = "apm_config.receiver_port",
          .default_value = int64_t{8126},
          .description = "TCP port of the trace receiver (0 turns the TCP listener off).",
          .field = FIELD(apm_config.receiver_port),
          .min = 0,
          .max = 65535,
          .env_aliases = {"DD_APM_RECEIVER_PORT"},
      },
      {
          .key = "apm_config.receiver_socket",
          .default_value = std::string(),
          .description = "Unix socket the trace receiver also listens on (empty: none).",
          .field = FIELD(apm_config.receiver_socket),
          .env_aliases = {"DD_APM_RECEIVER_SOCKET"},
      },
      {
          .key = "apm_config.apm_non_local_traffic",
          .default_value = false,
          .description = "Accept traces from other hosts (bind all interfaces).",
          .field = FIELD(apm_config.apm_non_local_traffic),
          .env_aliases = {"DD_APM_NON_LOCAL_TRAFFIC"},
      },
      {
          .key = "apm_config.apm_dd_url",
          .default_value = std::string(),
          .description = "Overrides the trace intake URL.",
          .field = FIELD(apm_config.apm_dd_url),
          .env_aliases = {"DD_APM_DD_URL"},
      },
      {
          .key = "apm_config.additional_endpoints",
          .default_value = StringListMap{},
          .description = "More trace intakes to dual-ship to: a map of URL to a list of API keys.",
          .field = FIELD(apm_config.additional_endpoints),
          .secret = true,
          .env_aliases = {"DD_APM_ADDITIONAL_ENDPOINTS"},
      },
      {
          .key = "apm_config.max_payload_size",
          .default_value = int64_t{26214400},
          .description = "Largest trace request body accepted, in bytes (larger: 413).",
          .field = FIELD(apm_config.max_payload_size),
          .min = 1024,
          .env_aliases = {"DD_APM_MAX_PAYLOAD_SIZE"},
      },
      {.key = "apm_config.env",
       .default_value = std::string("none"),
       .description = "Environment of traces that carry none (AgentPayload env, stats AgentEnv).",
       .field = FIELD(apm_config.env),
       .env_aliases = {"DD_APM_ENV"}},
      {.key = "apm_config.max_traces_per_second",
       .default_value = 10.0,
       .description = "Target of kept traces per second per service and env: the priority "
                      "sampler's rates returned to tracers (rate_by_service) aim at it.",
       .field = FIELD(apm_config.max_traces_per_second),
       .min = 0,
       .env_aliases = {"DD_APM_MAX_TPS", "DD_APM_TARGET_TPS"}},
      {.key = "apm_config.errors_per_second",
       .default_value = 10.0,
       .description = "Error traces per second the error sampler keeps beyond the priority "
                      "sampler's choice.",
       .field = FIELD(apm_config.errors_per_second),
       .min = 0,
       .env_aliases = {"DD_APM_ERROR_TPS"}},
      {.key = "apm_config.enable_rare_sampler",
       .default_value = false,
       .description = "Keep the first trace of each new service/name/resource/error/status "
                      "combination (at most 5 per second).",
       .field = FIELD(apm_config.enable_rare_sampler),
       .env_aliases = {"DD_APM_ENABLE_RARE_SAMPLER"}},
      {.key = "apm_config.ignore_resources",
       .default_value = StringList{},
       .description = "RE2 patterns: traces whose root span's resource matches one are dropped.",
       .field = FIELD(apm_config.ignore_resources),
       .env_aliases = {"DD_APM_IGNORE_RESOURCES"}},
      {.key = "apm_config.receiver_timeout",
       .default_value = 5.0,
       .description = "Seconds a tracer may take to send a request's headers (then 408).",
       .field = FIELD(apm_config.receiver_timeout),
       .min = 0.1,
       .env_aliases = {"DD_APM_RECEIVER_TIMEOUT"}},
      {.key = "apm_config.connection_limit",
       .default_value = int64_t{0},
       .description = "Most open tracer connections at once (0: 2000).",
       .field = FIELD(apm_config.connection_limit),
       .min = 0,
       .env_aliases = {"DD_APM_CONNECTION_LIMIT"}},
      {.key = "apm_config.obfuscation.redis.enabled",
       .default_value = true,
       .description = "Replace the arguments of redis.raw_command with '?'.",
       .field = FIELD(apm_config.obfuscation_redis)},
      {.key = "apm_config.obfuscation.memcached.enabled",
       .default_value = true,
       .description = "Keep only the command word of memcached.command.",
       .field = FIELD(apm_config.obfuscation_memcached)},
      {.key = "apm_config.obfuscation.http.remove_query_string",
       .default_value = false,
       .description = "Remove the query string of http.url.",
       .field = FIELD(apm_config.obfuscation_remove_query_string)},
      {.key = "apm_config.obfuscation.http.remove_paths_with_digits",
       .default_value = false,
       .description = "Replace path segments of http.url that contain digits with '?'.",
       .field = FIELD(apm_config.obfuscation_remove_paths_with_digits)},
      {.key = "apm_config.obfuscation.credit_cards.enabled",
       .default_value = false,
       .description = "Replace credit card numbers in span meta values with '?'.",
       .field = FIELD(apm_config.obfuscation_credit_cards)},
      {.key = "apm_config.obfuscation.cache.enabled",
       .default_value = true,
       .description = "Answer SQL queries seen before from a cache of their obfuscation.",
       .field = FIELD(apm_config.obfuscation_cache_enabled),
       .env_aliases = {"DD_APM_OBFUSCATION_CACHE_ENABLED"}},
      {.key = "apm_config.obfuscation.cache.max_size",
       .default_value = int64_t{5000000},
       .description = "Bytes the obfuscation cache may hold (queries and their obfuscation); "
                      "when full it starts over.",
       .field = FIELD(apm_config.obfuscation_cache_max_size),
       .min = 0,
       .env_aliases = {"DD_APM_OBFUSCATION_CACHE_MAX_SIZE"}},
      // --- DogStatsD --------------------------------------------------------------------------
      {.key = "use_dogstatsd",
       .default_value = true,
       .description = "Run the DogStatsD server.",
       .field = FIELD(use_dogstatsd)},
      {.key = "dogstatsd_port",
       .default_value = int64_t{8125},
       .description = "UDP port of DogStatsD (0 turns UDP off).",
       .field = FIELD(dogstatsd_port),
       .min = 0,
       .max = 65535},
      {.key = "dogstatsd_socket",
       .default_value = std::string(),
       .description = "Unix datagram socket DogStatsD also listens on (empty: none).",
       .field = FIELD(dogstatsd_socket)},
      {.key = "dogstatsd_stream_socket",
       .default_value = std::string(),
       .description = "Unix stream socket DogStatsD also listens on (empty: none).",
       .field = FIELD(dogstatsd_stream_socket)},
      {.key = "dogstatsd_non_local_traffic",
       .default_value = false,
       .description = "Accept DogStatsD from other hosts (bind all interfaces).",
       .field = FIELD(dogstatsd_non_local_traffic)},
      {.key = "dogstatsd_buffer_size",
       .default_value = int64_t{8192},
       .description = "Bytes read per datagram; longer datagrams are truncated.",
       .field = FIELD(dogstatsd_buffer_size),
       .min = 512,
       .max = 65536},
      {.key = "dogstatsd_so_rcvbuf",
       .default_value = int64_t{0},
       .description = "Kernel receive buffer of the DogStatsD sockets in bytes (0: OS default).",
       .field = FIELD(dogstatsd_so_rcvbuf),
       .min = 0},
      {.key = "dogstatsd_tags",
       .default_value = StringList{},
       .description = "Tags added to every DogStatsD sample.",
       .field = FIELD(dogstatsd_tags)},
      {.key = "dogstatsd_expiry_seconds",
       .default_value = int64_t{300},
       .description = "Seconds a counter keeps reporting 0 after its last sample.",
       .field = FIELD(dogstatsd_expiry_seconds),
       .min = 0},
      {.key = "dogstatsd_context_expiry_seconds",
       .default_value = int64_t{20},
       .description = "Seconds a metric context with no samples is kept.",
       .field = FIELD(dogstatsd_context_expiry_seconds),
       .min = 0},
      {.key = "dogstatsd_context_limit",
       .default_value = int64_t{500000},
       .description = "Outpost only. Most live metric contexts; samples of new contexts past it "
                      "are dropped and counted instead of growing memory without bound.",
       .field = FIELD(dogstatsd_context_limit),
       .min = 1},
      {.key = "dogstatsd_flush_interval",
       .default_value = int64_t{15},
       .description = "Outpost only. Seconds between flushes of closed 10 s buckets to the "
                      "intake (the Datadog Agent's fixed value is 15).",
       .field = FIELD(dogstatsd_flush_interval),
       .min = 1,
       .max = 300},
      {.key = "histogram_aggregates",
       .default_value = StringList{"max", "median", "avg", "count"},
       .description = "Aggregates sent for histograms: min, max, median, avg, sum, count.",
       .field = FIELD(histogram_aggregates)},
      {.key = "histogram_percentiles",
       .default_value = StringList{"0.95"},
       .description = "Percentiles sent for histograms, as fractions (0.95 -> .95percentile).",
       .field = FIELD(histogram_percentiles)},
  };
}

#undef FIELD

// YAML text of a scalar string: plain when safe, double-quoted otherwise.
std::string quoteIfNeeded(const std::string& s) {
  YAML::Emitter out;
  out << s;
  return out.c_str();
}

std::string renderNumber(double d) {
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) {
    return fmt::format("{:.1f}", d);
  }
  return fmt::format("{}", d);
}

std::string renderList(const StringList& list) {
  std::vector<std::string> items;
  items.reserve(list.size());
  for (const auto& s : list) {
    items.push_back(quoteIfNeeded(s));
  }
  return fmt::format("[{}]", join(items, ", "));
}

std::string renderAny(const KeyDef& def, const ConfigValue& value) {
  struct Visitor {
    const KeyDef& def;
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return renderNumber(d); }
    std::string operator()(const std::string& s) const {
      if (def.secret && !s.empty()) {
        return quoteIfNeeded(redactSecret(s));
      }
      return s.empty() ? "\"\"" : quoteIfNeeded(def.key.starts_with("proxy.") ? redactUrl(s) : s);
    }
    std::string operator()(const StringList& l) const { return renderList(l); }
    std::string operator()(const LogsEndpointList& l) const {
      std::vector<std::string> items;
      for (const auto& e : l) {
        items.push_back(
            fmt::format("{{api_key: {}, Host: {}, Port: {}, is_reliable: {}, use_ssl: {}}}",
                        e.api_key.empty() ? "\"\"" : quoteIfNeeded(redactSecret(e.api_key)),
                        quoteIfNeeded(e.host), e.port, e.is_reliable, e.use_ssl));
      }
      return fmt::format("[{}]", join(items, ", "));
    }
    std::string operator()(const YamlValue& v) const {
      if (!v.node || v.node.IsNull()) {
        return "[]";
      }
      YAML::Emitter out;
      out.SetMapFormat(YAML::Flow);
      out.SetSeqFormat(YAML::Flow);
      out << v.node;
      return out.c_str();
    }
    std::string operator()(const StringListMap& m) const {
      std::vector<std::string> items;
      for (const auto& [k, v] : m) {
        StringList shown = v;
        if (def.secret) {
          for (auto& s : shown) {
            s = redactSecret(s);
          }
        }
        items.push_back(quoteIfNeeded(k) + ": " + renderList(shown));
      }
      return fmt::format("{{{}}}", join(items, ", "));
    }
  };
  return std::visit(Visitor{def}, value);
}

ConfigValue readField(const KeyDef& def, const Config& config) {
  FieldRef ref = def.field(const_cast<Config&>(config));
  return std::visit([](auto* p) -> ConfigValue { return *p; }, ref);
}

}  // namespace

std::vector<std::string> KeyDef::envNames() const {
  std::string derived = "DD_" + toUpper(key);
  std::replace(derived.begin(), derived.end(), '.', '_');
  std::vector<std::string> names{derived};
  for (auto alias : env_aliases) {
    names.emplace_back(alias);
  }
  return names;
}

std::string KeyDef::typeName() const {
  if (!choices.empty()) {
    return "enum";
  }
  static constexpr const char* kNames[] = {
      "boolean", "integer",           "number",       "string", "list",
      "map",     "list of endpoints", "list of rules"};
  return kNames[default_value.index()];
}

const std::vector<KeyDef>& configSchema() {
  static const std::vector<KeyDef> schema = buildSchema();
  return schema;
}

const KeyDef* findKey(std::string_view key) {
  for (const auto& def : configSchema()) {
    if (def.key == key) {
      return &def;
    }
  }
  return nullptr;
}

bool isSection(std::string_view prefix) {
  for (const auto& def : configSchema()) {
    if (def.key.size() > prefix.size() && def.key.starts_with(prefix) &&
        def.key[prefix.size()] == '.') {
      return true;
    }
  }
  return false;
}

Config defaultConfig() {
  Config config{};
  for (const auto& def : configSchema()) {
    std::visit(
        [&](auto* field) {
          using T = std::remove_pointer_t<decltype(field)>;
          *field = std::get<T>(def.default_value);
        },
        def.field(config));
  }
  return config;
}

std::string renderValue(const KeyDef& def, const Config& config) {
  return renderAny(def, readField(def, config));
}

std::string renderDefault(const KeyDef& def) {
  return renderAny(def, def.default_value);
}

}  // namespace outpost

#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace outpost {

// The agent's configuration as a typed value. Every field is declared in the schema table
// (config_schema.cpp) with its key name, type, default and description; load it with
// loadConfig(), never by filling fields by hand outside tests.
using StringList = std::vector<std::string>;
using StringListMap = std::map<std::string, StringList>;

// One entry of logs_config.additional_endpoints, in the Datadog Agent's shape
// ({api_key, Host, Port, is_reliable, use_ssl}).
struct LogsEndpoint {
  std::string api_key;
  std::string host;
  int64_t port = 443;
  bool is_reliable = true;
  bool use_ssl = true;
  bool operator==(const LogsEndpoint&) const = default;
};
using LogsEndpointList = std::vector<LogsEndpoint>;

// A structured value its component validates itself (logs_config.processing_rules): the YAML
// node as written and where it came from, so that component's errors name file and line.
struct YamlValue {
  YAML::Node node;   // null when unset
  std::string file;  // the file it was read from; empty when it came from `env`
  std::string env;   // the environment variable it came from (JSON), if any
  // Equal when the values are (for reload diffs), wherever they were written.
  bool operator==(const YamlValue& o) const { return YAML::Dump(node) == YAML::Dump(o.node); }
};

struct LogsConfig {
  std::string logs_dd_url;
  bool logs_no_ssl;
  LogsEndpointList additional_endpoints;
  std::string compression_kind;
  int64_t zstd_compression_level;
  double file_scan_period;
  int64_t open_files_limit;
  int64_t close_timeout;
  bool use_compression;
  int64_t compression_level;
  int64_t batch_max_size;
  int64_t batch_max_content_size;
  int64_t max_message_size_bytes;
  double batch_wait;
  int64_t aggregation_timeout;
  bool auto_multi_line_detection;
  int64_t frame_size;
  YamlValue processing_rules;
};

struct ApmConfig {
  bool enabled;
  int64_t receiver_port;
  std::string receiver_socket;
  bool apm_non_local_traffic;
  std::string apm_dd_url;
  StringListMap additional_endpoints;
  int64_t max_payload_size;
  std::string env;
  double max_traces_per_second;
  double errors_per_second;
  bool enable_rare_sampler;
  StringList ignore_resources;
  double receiver_timeout;
  int64_t connection_limit;
  bool obfuscation_redis;
  bool obfuscation_memcached;
  bool obfuscation_remove_query_string;
  bool obfuscation_remove_paths_with_digits;
  bool obfuscation_credit_cards;
  bool obfuscation_cache_enabled;
  int64_t obfuscation_cache_max_size;
};

struct ProxyConfig {
  std::string http;
  std::string https;
  StringList no_proxy;
};

// The query socket's limits (issue 8).
struct QueryConfig {
  int64_t max_concurrent_searches;
  int64_t max_queued_searches;
  double search_timeout;
  int64_t results_max_bytes;
  double results_ttl;
  double cache_ttl;
  int64_t cache_max_bytes;
  int64_t search_split_bytes;
  int64_t metrics_retention;
  int64_t metrics_max_contexts;
  int64_t traces_max_bytes;
  int64_t logs_buffer_bytes;
};

struct Config {
  std::string api_key;
  std::string site;
  std::string dd_url;
  std::string hostname;
  StringList tags;
  StringList host_aliases;
  std::string env;
  std::string log_level;
  std::string run_path;
  std::string procfs_path;
  std::string confd_path;
  std::string query_socket;
  std::string query_socket_group;
  QueryConfig query;
  int64_t shutdown_timeout;
  int64_t worker_threads;
  std::string bind_host;
  bool skip_ssl_validation;
  StringListMap additional_endpoints;
  ProxyConfig proxy;
  std::string serializer_compressor_kind;
  int64_t serializer_zstd_compressor_level;
  int64_t forwarder_timeout;
  int64_t forwarder_num_workers;
  double forwarder_backoff_base;
  double forwarder_backoff_factor;
  double forwarder_backoff_max;
  int64_t forwarder_retry_queue_payloads_max_size;
  std::string forwarder_storage_path;
  int64_t forwarder_storage_max_size_in_bytes;
  double forwarder_storage_max_disk_ratio;
  bool logs_enabled;
  LogsConfig logs_config;
  ApmConfig apm_config;
  bool use_dogstatsd;
  int64_t dogstatsd_port;
  std::string dogstatsd_socket;
  std::string dogstatsd_stream_socket;
  bool dogstatsd_non_local_traffic;
  int64_t dogstatsd_buffer_size;
  int64_t dogstatsd_so_rcvbuf;
  StringList dogstatsd_tags;
  int64_t dogstatsd_expiry_seconds;
  int64_t dogstatsd_context_expiry_seconds;
  int64_t dogstatsd_context_limit;
  int64_t dogstatsd_flush_interval;
  StringList histogram_aggregates;
  StringList histogram_percentiles;

  bool localMode() const { return api_key.empty(); }
};

// Where a value came from, for error messages and `configcheck`.
struct ConfigOrigin {
  enum class Kind { kDefault, kFile, kEnv, kDerived };
  Kind kind = Kind::kDefault;
  std::string file;  // kFile
  int line = 0;      // 1-based; kFile
  int column = 0;    // 1-based; kFile
  std::string env;   // kEnv: the variable's name
  std::string note;  // kDerived: how it was derived

  std::string describe() const;  // "default", "outpost.yaml:3", "env DD_SITE", ...
};

// One error or warning about the configuration. format() gives
//   FILE:LINE:COLUMN: KEY: TEXT            (from a file)
//   environment variable VAR: KEY: TEXT    (from the environment)
struct ConfigMessage {
  std::string file;  // empty when the message is not about a file
  int line = 0;
  int column = 0;
  std::string env;
  std::string key;
  std::string text;

  std::string format() const;
};

// A log source from a conf.d file's `logs:` list. Only its shape is checked here; the logs
// pipeline reads the rest of `raw`.
struct LogSourceEntry {
  std::string type;  // file | tcp | udp | journald
  YAML::Node raw;
  int line = 0;
};

// One conf.d file: `conf.d/<name>.d/*.yaml` or `conf.d/<name>.yaml`.
struct ConfdEntry {
  std::string name;  // the check or integration name: the folder name without ".d"
  std::string file;
  YAML::Node init_config;
  std::vector<YAML::Node> instances;
  std::vector<LogSourceEntry> logs;
};

struct LoadedConfig {
  Config config;
  std::string config_dir;   // the directory of outpost.yaml (or the -c directory)
  std::string config_file;  // empty when the directory has no outpost.yaml
  std::map<std::string, ConfigOrigin> origins;  // by dotted key; every schema key is present
  std::vector<ConfdEntry> confd;
};

struct ConfigResult {
  std::optional<LoadedConfig> loaded;  // set iff errors is empty
  std::vector<ConfigMessage> errors;
  std::vector<ConfigMessage> warnings;
};

// Reads an environment variable; injectable for tests.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
std::optional<std::string> processEnv(const std::string& name);

// Loads `path` (a directory holding outpost.yaml and conf.d/, or the outpost.yaml file itself),
// applies DD_* overrides from `env`, reads conf.d, validates everything, and resolves derived
// values (hostname, relative paths). Never throws.
ConfigResult loadConfig(const std::string& path, const EnvLookup& env = processEnv);

// Default configuration directory.
inline constexpr const char* kDefaultConfigPath = "/etc/outpost";

}  // namespace outpost

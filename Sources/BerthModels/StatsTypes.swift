/// `GET /containers/{id}/stats`, in Docker's shape (cgroup v1 fields).
public struct ContainerStats: Codable, Sendable {
    public struct CPUUsage: Codable, Sendable {
        public var total_usage: UInt64
        public var percpu_usage: [UInt64]?
        public var usage_in_kernelmode: UInt64
        public var usage_in_usermode: UInt64
        public init(total_usage: UInt64, percpu_usage: [UInt64]?, usage_in_kernelmode: UInt64, usage_in_usermode: UInt64) {
            self.total_usage = total_usage; self.percpu_usage = percpu_usage
            self.usage_in_kernelmode = usage_in_kernelmode; self.usage_in_usermode = usage_in_usermode
        }
    }
    public struct Throttling: Codable, Sendable {
        public var periods: UInt64
        public var throttled_periods: UInt64
        public var throttled_time: UInt64
        public init(periods: UInt64, throttled_periods: UInt64, throttled_time: UInt64) {
            self.periods = periods; self.throttled_periods = throttled_periods; self.throttled_time = throttled_time
        }
    }
    public struct CPUStats: Codable, Sendable {
        public var cpu_usage: CPUUsage
        public var system_cpu_usage: UInt64?
        public var online_cpus: Int?
        public var throttling_data: Throttling
        public init(cpu_usage: CPUUsage, system_cpu_usage: UInt64?, online_cpus: Int?, throttling_data: Throttling) {
            self.cpu_usage = cpu_usage; self.system_cpu_usage = system_cpu_usage; self.online_cpus = online_cpus
            self.throttling_data = throttling_data
        }
        public static let empty = CPUStats(cpu_usage: .init(total_usage: 0, percpu_usage: nil, usage_in_kernelmode: 0, usage_in_usermode: 0),
                                           system_cpu_usage: nil, online_cpus: nil,
                                           throttling_data: .init(periods: 0, throttled_periods: 0, throttled_time: 0))
    }
    public struct MemoryStats: Codable, Sendable {
        public var usage: UInt64?
        public var max_usage: UInt64?
        public var stats: [String: UInt64]?
        public var failcnt: UInt64?
        public var limit: UInt64?
        public init(usage: UInt64?, max_usage: UInt64?, stats: [String: UInt64]?, failcnt: UInt64?, limit: UInt64?) {
            self.usage = usage; self.max_usage = max_usage; self.stats = stats; self.failcnt = failcnt; self.limit = limit
        }
    }
    public struct PidsStats: Codable, Sendable {
        public var current: UInt64?
        public var limit: UInt64?
        public init(current: UInt64?, limit: UInt64?) { self.current = current; self.limit = limit }
    }
    public struct BlkioEntry: Codable, Sendable {
        public var major: UInt64
        public var minor: UInt64
        public var op: String
        public var value: UInt64
        public init(major: UInt64, minor: UInt64, op: String, value: UInt64) {
            self.major = major; self.minor = minor; self.op = op; self.value = value
        }
    }
    public struct BlkioStats: Codable, Sendable {
        public var io_service_bytes_recursive: [BlkioEntry]?
        public var io_serviced_recursive: [BlkioEntry]?
        public var io_queue_recursive: [BlkioEntry]?
        public var io_service_time_recursive: [BlkioEntry]?
        public var io_wait_time_recursive: [BlkioEntry]?
        public var io_merged_recursive: [BlkioEntry]?
        public var io_time_recursive: [BlkioEntry]?
        public var sectors_recursive: [BlkioEntry]?
        public init(io_service_bytes_recursive: [BlkioEntry]?, io_serviced_recursive: [BlkioEntry]?) {
            self.io_service_bytes_recursive = io_service_bytes_recursive; self.io_serviced_recursive = io_serviced_recursive
        }
    }
    public struct NetworkStats: Codable, Sendable {
        public var rx_bytes: UInt64
        public var rx_packets: UInt64
        public var rx_errors: UInt64
        public var rx_dropped: UInt64
        public var tx_bytes: UInt64
        public var tx_packets: UInt64
        public var tx_errors: UInt64
        public var tx_dropped: UInt64
        public init(rx_bytes: UInt64, rx_packets: UInt64, rx_errors: UInt64, rx_dropped: UInt64,
                    tx_bytes: UInt64, tx_packets: UInt64, tx_errors: UInt64, tx_dropped: UInt64) {
            self.rx_bytes = rx_bytes; self.rx_packets = rx_packets; self.rx_errors = rx_errors; self.rx_dropped = rx_dropped
            self.tx_bytes = tx_bytes; self.tx_packets = tx_packets; self.tx_errors = tx_errors; self.tx_dropped = tx_dropped
        }
    }

    public var name: String
    public var id: String
    public var read: String
    public var preread: String
    public var pids_stats: PidsStats
    public var blkio_stats: BlkioStats
    public var num_procs: Int
    public var storage_stats: [String: UInt64]
    public var cpu_stats: CPUStats
    public var precpu_stats: CPUStats
    public var memory_stats: MemoryStats
    public var networks: [String: NetworkStats]?

    public init(name: String, id: String, read: String, preread: String, pids: PidsStats, blkio: BlkioStats,
                cpu: CPUStats, precpu: CPUStats, memory: MemoryStats, networks: [String: NetworkStats]?) {
        self.name = name; self.id = id; self.read = read; self.preread = preread; pids_stats = pids
        blkio_stats = blkio; num_procs = 0; storage_stats = [:]; cpu_stats = cpu; precpu_stats = precpu
        memory_stats = memory; self.networks = networks
    }
}

/// `GET /containers/{id}/top`
public struct TopResponse: Codable, Sendable {
    public var Titles: [String]
    public var Processes: [[String]]
    public init(Titles: [String], Processes: [[String]]) { self.Titles = Titles; self.Processes = Processes }
}

/// One item of `GET /containers/{id}/changes`: Kind 0 modified, 1 added, 2 deleted.
public struct FilesystemChange: Codable, Sendable, Equatable {
    public var Path: String
    public var Kind: Int
    public init(Path: String, Kind: Int) { self.Path = Path; self.Kind = Kind }
}

/// The host-specific part of a container (Docker's `HostConfig`, resources inlined as on the wire).
public struct HostConfig: Codable, Sendable, Equatable {
    // Resources
    public var CpuShares: Int64?
    public var Memory: Int64?
    public var CgroupParent: String?
    public var BlkioWeight: Int?
    public var BlkioWeightDevice: JSONValue?
    public var BlkioDeviceReadBps: JSONValue?
    public var BlkioDeviceWriteBps: JSONValue?
    public var BlkioDeviceReadIOps: JSONValue?
    public var BlkioDeviceWriteIOps: JSONValue?
    public var CpuPeriod: Int64?
    public var CpuQuota: Int64?
    public var CpuRealtimePeriod: Int64?
    public var CpuRealtimeRuntime: Int64?
    public var CpusetCpus: String?
    public var CpusetMems: String?
    public var Devices: [DeviceMapping]?
    @AlwaysEncoded public var DeviceCgroupRules: [String]? = nil
    @AlwaysEncoded public var DeviceRequests: JSONValue? = nil
    public var KernelMemoryTCP: Int64?
    public var MemoryReservation: Int64?
    public var MemorySwap: Int64?
    public var MemorySwappiness: Int64?
    public var NanoCpus: Int64?
    public var OomKillDisable: Bool?
    public var Init: Bool?
    public var PidsLimit: Int64?
    public var Ulimits: [Ulimit]?
    public var CpuCount: Int64?
    public var CpuPercent: Int64?
    public var IOMaximumIOps: Int64?
    public var IOMaximumBandwidth: Int64?
    // Host settings
    @AlwaysEncoded public var Binds: [String]? = nil
    public var ContainerIDFile: String?
    public var LogConfig: LogConfig?
    public var NetworkMode: String?
    public var PortBindings: [String: [PortBinding]?]?
    public var RestartPolicy: RestartPolicy?
    public var AutoRemove: Bool?
    public var VolumeDriver: String?
    @AlwaysEncoded public var VolumesFrom: [String]? = nil
    public var Mounts: [MountSpec]?
    public var ConsoleSize: [Int]?
    public var Annotations: [String: String]?
    @AlwaysEncoded public var CapAdd: [String]? = nil
    @AlwaysEncoded public var CapDrop: [String]? = nil
    public var CgroupnsMode: String?
    public var Dns: [String]?
    public var DnsOptions: [String]?
    public var DnsSearch: [String]?
    @AlwaysEncoded public var ExtraHosts: [String]? = nil
    @AlwaysEncoded public var GroupAdd: [String]? = nil
    public var IpcMode: String?
    public var Cgroup: String?
    @AlwaysEncoded public var Links: [String]? = nil
    public var OomScoreAdj: Int?
    public var PidMode: String?
    public var Privileged: Bool?
    public var PublishAllPorts: Bool?
    public var ReadonlyRootfs: Bool?
    @AlwaysEncoded public var SecurityOpt: [String]? = nil
    public var StorageOpt: [String: String]?
    public var Tmpfs: [String: String]?
    public var UTSMode: String?
    public var UsernsMode: String?
    public var ShmSize: Int64?
    public var Sysctls: [String: String]?
    public var Runtime: String?
    public var Isolation: String?
    public var MaskedPaths: [String]?
    public var ReadonlyPaths: [String]?

    public init() {}

    /// Fills the fields Docker always reports so clients reading inspect output see numbers, not nulls.
    public mutating func applyDefaults() {
        CpuShares = CpuShares ?? 0; Memory = Memory ?? 0; CpuPeriod = CpuPeriod ?? 0; CpuQuota = CpuQuota ?? 0
        CpuRealtimePeriod = CpuRealtimePeriod ?? 0; CpuRealtimeRuntime = CpuRealtimeRuntime ?? 0
        CpusetCpus = CpusetCpus ?? ""; CpusetMems = CpusetMems ?? ""; BlkioWeight = BlkioWeight ?? 0
        MemoryReservation = MemoryReservation ?? 0; MemorySwap = MemorySwap ?? 0; NanoCpus = NanoCpus ?? 0
        KernelMemoryTCP = KernelMemoryTCP ?? 0; CpuCount = CpuCount ?? 0; CpuPercent = CpuPercent ?? 0
        IOMaximumIOps = IOMaximumIOps ?? 0; IOMaximumBandwidth = IOMaximumBandwidth ?? 0
        if NetworkMode == nil || NetworkMode == "" || NetworkMode == "default" { NetworkMode = "bridge" }
        if LogConfig == nil || LogConfig?.Type == "" { LogConfig = BerthModels.LogConfig(Type: "json-file", Config: LogConfig?.Config ?? [:]) }
        RestartPolicy = RestartPolicy ?? BerthModels.RestartPolicy(Name: "no", MaximumRetryCount: 0)
        AutoRemove = AutoRemove ?? false; Privileged = Privileged ?? false
        PublishAllPorts = PublishAllPorts ?? false; ReadonlyRootfs = ReadonlyRootfs ?? false
        IpcMode = (IpcMode ?? "").isEmpty ? "private" : IpcMode
        CgroupnsMode = (CgroupnsMode ?? "").isEmpty ? "host" : CgroupnsMode
        PidMode = PidMode ?? ""; UTSMode = UTSMode ?? ""; UsernsMode = UsernsMode ?? ""
        ShmSize = (ShmSize ?? 0) == 0 ? 64 * 1024 * 1024 : ShmSize; OomScoreAdj = OomScoreAdj ?? 0
        ConsoleSize = ConsoleSize ?? [0, 0]; Runtime = (Runtime ?? "").isEmpty ? "runc" : Runtime
        Isolation = Isolation ?? ""; VolumeDriver = VolumeDriver ?? ""; ContainerIDFile = ContainerIDFile ?? ""
        Cgroup = Cgroup ?? ""; CgroupParent = CgroupParent ?? ""
    }
}

/// `--device /dev/sda:/dev/xvda:rwm`
public struct DeviceMapping: Codable, Sendable, Equatable {
    public var PathOnHost: String
    public var PathInContainer: String?
    public var CgroupPermissions: String?
    public init(PathOnHost: String, PathInContainer: String? = nil, CgroupPermissions: String? = nil) {
        self.PathOnHost = PathOnHost; self.PathInContainer = PathInContainer; self.CgroupPermissions = CgroupPermissions
    }
}

public struct Ulimit: Codable, Sendable, Equatable {
    public var Name: String
    public var Soft: Int64
    public var Hard: Int64
}

public struct LogConfig: Codable, Sendable, Equatable {
    public var `Type`: String
    public var Config: [String: String]?
    public init(Type: String, Config: [String: String]?) { self.Type = Type; self.Config = Config }
}

public struct RestartPolicy: Codable, Sendable, Equatable {
    public var Name: String?
    public var MaximumRetryCount: Int?
    public init(Name: String?, MaximumRetryCount: Int?) { self.Name = Name; self.MaximumRetryCount = MaximumRetryCount }
}

/// `POST /containers/create` body: a ContainerConfig with HostConfig and NetworkingConfig beside it.
public struct ContainerCreateBody: Decodable, Sendable {
    public var config: ContainerConfig
    public var hostConfig: HostConfig
    public var networkingConfig: NetworkingConfig?
    /// Top-level keys as sent, for warnings about fields Berth does not act on.
    public var rawHostConfig: [String: JSONValue]

    private enum Keys: String, CodingKey { case HostConfig, NetworkingConfig }

    public init(config: ContainerConfig, hostConfig: HostConfig = HostConfig(), networkingConfig: NetworkingConfig? = nil) {
        self.config = config; self.hostConfig = hostConfig; self.networkingConfig = networkingConfig; rawHostConfig = [:]
    }

    public init(from decoder: any Decoder) throws {
        config = try ContainerConfig(from: decoder)
        let c = try decoder.container(keyedBy: Keys.self)
        hostConfig = try c.decodeIfPresent(HostConfig.self, forKey: .HostConfig) ?? HostConfig()
        networkingConfig = try c.decodeIfPresent(NetworkingConfig.self, forKey: .NetworkingConfig)
        rawHostConfig = (try? c.decodeIfPresent([String: JSONValue].self, forKey: .HostConfig)) ?? [:]
    }
}

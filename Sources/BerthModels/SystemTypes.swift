/// `{"message": …}`: every error body.
public struct ErrorResponse: Codable, Sendable {
    public var message: String
    public init(message: String) { self.message = message }
}

/// `GET /version`
public struct VersionResponse: Codable, Sendable {
    public struct PlatformInfo: Codable, Sendable { public var Name: String }
    public struct Component: Codable, Sendable {
        public var Name: String
        public var Version: String
        public var Details: [String: String]?
    }
    public var Platform: PlatformInfo
    public var Components: [Component]
    public var Version: String
    public var ApiVersion: String
    public var MinAPIVersion: String
    public var GitCommit: String
    public var GoVersion: String
    public var Os: String
    public var Arch: String
    public var KernelVersion: String
    public var BuildTime: String

    public init(version: String, apiVersion: String, minAPIVersion: String, kernel: String, arch: String) {
        Platform = PlatformInfo(Name: "Berth Engine")
        Components = [.init(Name: "Engine", Version: version, Details: [
            "ApiVersion": apiVersion, "MinAPIVersion": minAPIVersion, "GitCommit": "berth",
            "GoVersion": "swift", "Os": "linux", "Arch": arch, "KernelVersion": kernel, "Experimental": "false",
        ])]
        Version = version; ApiVersion = apiVersion; MinAPIVersion = minAPIVersion; GitCommit = "berth"
        GoVersion = "swift"; Os = "linux"; Arch = arch; KernelVersion = kernel; BuildTime = ""
    }
}

/// `GET /info` (the fields the docker CLI prints; the rest keep Docker's zero values).
public struct SystemInfo: Codable, Sendable {
    public var ID: String
    public var Containers: Int
    public var ContainersRunning: Int
    public var ContainersPaused: Int
    public var ContainersStopped: Int
    public var Images: Int
    public var Driver: String
    public var DriverStatus: [[String]]
    public var Plugins: [String: [String]]
    public var MemoryLimit: Bool
    public var SwapLimit: Bool
    public var KernelMemoryTCP: Bool
    public var CpuCfsPeriod: Bool
    public var CpuCfsQuota: Bool
    public var CPUShares: Bool
    public var CPUSet: Bool
    public var PidsLimit: Bool
    public var OomKillDisable: Bool
    public var IPv4Forwarding: Bool
    public var Debug: Bool
    public var NFd: Int
    public var NGoroutines: Int
    public var SystemTime: String
    public var LoggingDriver: String
    public var CgroupDriver: String
    public var CgroupVersion: String
    public var NEventsListener: Int
    public var KernelVersion: String
    public var OperatingSystem: String
    public var OSVersion: String
    public var OSType: String
    public var Architecture: String
    public var IndexServerAddress: String
    public var RegistryConfig: JSONValue
    public var NCPU: Int
    public var MemTotal: Int64
    public var DockerRootDir: String
    public var HttpProxy: String
    public var HttpsProxy: String
    public var NoProxy: String
    public var Name: String
    public var Labels: [String]
    public var ExperimentalBuild: Bool
    public var ServerVersion: String
    public var Runtimes: [String: [String: String]]
    public var DefaultRuntime: String
    public var Swarm: JSONValue
    public var LiveRestoreEnabled: Bool
    public var Isolation: String
    public var InitBinary: String
    public var ContainerdCommit: [String: String]
    public var RuncCommit: [String: String]
    public var InitCommit: [String: String]
    public var SecurityOptions: [String]
    public var Warnings: [String]

    public init(ID: String, Containers: Int, ContainersRunning: Int, ContainersPaused: Int,
                ContainersStopped: Int, Images: Int, KernelVersion: String, OperatingSystem: String,
                Architecture: String, NCPU: Int, MemTotal: Int64, DockerRootDir: String, Name: String,
                ServerVersion: String, NFd: Int, SystemTime: String, listeners: Int = 0) {
        self.ID = ID; self.Containers = Containers; self.ContainersRunning = ContainersRunning
        self.ContainersPaused = ContainersPaused; self.ContainersStopped = ContainersStopped; self.Images = Images
        Driver = "overlay2"; DriverStatus = [["Backing Filesystem", "extfs"], ["Supports d_type", "true"],
                                             ["Native Overlay Diff", "true"], ["userxattr", "false"]]
        Plugins = ["Volume": ["local"], "Network": ["bridge", "host", "null"], "Log": ["json-file", "local"]]
        MemoryLimit = true; SwapLimit = true; KernelMemoryTCP = false; CpuCfsPeriod = true; CpuCfsQuota = true
        CPUShares = true; CPUSet = true; PidsLimit = true; OomKillDisable = true; IPv4Forwarding = true
        Debug = false; self.NFd = NFd; NGoroutines = 0; self.SystemTime = SystemTime; LoggingDriver = "json-file"
        CgroupDriver = "cgroupfs"; CgroupVersion = "1"; NEventsListener = listeners; self.KernelVersion = KernelVersion
        self.OperatingSystem = OperatingSystem; OSVersion = ""; OSType = "linux"; self.Architecture = Architecture
        IndexServerAddress = "https://index.docker.io/v1/"
        RegistryConfig = .object(["IndexConfigs": .object([:]), "InsecureRegistryCIDRs": .array([.string("127.0.0.0/8")]),
                                  "Mirrors": .array([])])
        self.NCPU = NCPU; self.MemTotal = MemTotal; self.DockerRootDir = DockerRootDir
        HttpProxy = ""; HttpsProxy = ""; NoProxy = ""; self.Name = Name; Labels = []; ExperimentalBuild = false
        self.ServerVersion = ServerVersion; Runtimes = ["runc": ["path": "runc"]]; DefaultRuntime = "runc"
        Swarm = .object(["NodeID": .string(""), "NodeAddr": .string(""), "LocalNodeState": .string("inactive"),
                         "ControlAvailable": .bool(false), "Error": .string(""), "RemoteManagers": .null])
        LiveRestoreEnabled = true; Isolation = ""; InitBinary = "tini-static"
        ContainerdCommit = ["ID": ""]; RuncCommit = ["ID": ""]; InitCommit = ["ID": ""]
        SecurityOptions = ["name=seccomp,profile=builtin", "name=cgroupns"]; Warnings = []
    }
}

/// One line of `GET /events`.
public struct EventMessage: Codable, Sendable {
    public struct Actor: Codable, Sendable {
        public var ID: String
        public var Attributes: [String: String]
        public init(ID: String, Attributes: [String: String]) { self.ID = ID; self.Attributes = Attributes }
    }
    public var status: String?
    public var id: String?
    public var from: String?
    public var `Type`: String
    public var Action: String
    public var Actor: Actor
    public var scope: String
    public var time: Int64
    public var timeNano: Int64

    public init(type: String, action: String, actorID: String, attributes: [String: String], timeNano: Int64) {
        self.Type = type; self.Action = action; self.Actor = .init(ID: actorID, Attributes: attributes)
        scope = "local"; time = timeNano / 1_000_000_000; self.timeNano = timeNano
        if type == "container" || type == "image" {
            status = action; id = actorID
            if type == "container" { from = attributes["image"] }
        }
    }
}

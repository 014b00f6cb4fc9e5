/// The subset of the OCI runtime spec (config.json) that Berth writes for runc.
public struct OCISpec: Codable, Sendable {
    public var ociVersion = "1.0.2"
    public var process: Process
    public var root: Root
    public var hostname: String?
    public var mounts: [Mount]
    public var linux: Linux

    public struct Process: Codable, Sendable {
        public var terminal: Bool
        public var consoleSize: ConsoleSize?
        public var user: User
        public var args: [String]
        public var env: [String]
        public var cwd: String
        public var capabilities: Capabilities
        public var rlimits: [Rlimit]
        public var noNewPrivileges: Bool
        public var oomScoreAdj: Int?
    }
    public struct ConsoleSize: Codable, Sendable { public var height: Int; public var width: Int }
    public struct User: Codable, Sendable {
        public var uid: UInt32
        public var gid: UInt32
        public var additionalGids: [UInt32]?
        public var umask: UInt32?
    }
    public struct Capabilities: Codable, Sendable {
        public var bounding: [String]
        public var effective: [String]
        public var permitted: [String]
        public var inheritable: [String]?
        public var ambient: [String]?
    }
    public struct Rlimit: Codable, Sendable, Equatable {
        public var type: String; public var hard: UInt64; public var soft: UInt64
        public init(type: String, hard: UInt64, soft: UInt64) { self.type = type; self.hard = hard; self.soft = soft }
    }
    public struct Root: Codable, Sendable { public var path: String; public var readonly: Bool }
    public struct Mount: Codable, Sendable {
        public var destination: String
        public var type: String?
        public var source: String?
        public var options: [String]?
        public init(_ destination: String, type: String?, source: String?, options: [String]?) {
            self.destination = destination; self.type = type; self.source = source; self.options = options
        }
    }
    public struct Linux: Codable, Sendable {
        public var resources: Resources
        public var cgroupsPath: String
        public var namespaces: [Namespace]
        public var maskedPaths: [String]
        public var readonlyPaths: [String]
        public var sysctl: [String: String]?
        public var seccomp: Seccomp?
        public var devices: [Device]?
    }
    public struct Seccomp: Codable, Sendable {
        public var defaultAction: String
        public var defaultErrnoRet: UInt32?
        public var architectures: [String]
        public var syscalls: [SeccompRule]
    }
    public struct SeccompRule: Codable, Sendable {
        public var names: [String]
        public var action: String
        public var errnoRet: UInt32?
        public var args: [SeccompArg]?
    }
    public struct SeccompArg: Codable, Sendable {
        public var index: UInt32
        public var value: UInt64
        public var valueTwo: UInt64?
        public var op: String
    }
    /// A device node runc creates in the container.
    public struct Device: Codable, Sendable, Equatable {
        public var path: String
        public var type: String
        public var major: Int64
        public var minor: Int64
        public var fileMode: UInt32?
        public var uid: UInt32?
        public var gid: UInt32?
    }
    public struct Namespace: Codable, Sendable { public var type: String; public var path: String? }
    public struct Resources: Codable, Sendable {
        public var devices: [DeviceRule]
        public var memory: Memory?
        public var cpu: CPU?
        public var pids: Pids?
        public init(devices: [DeviceRule], memory: Memory?, cpu: CPU?, pids: Pids?) {
            self.devices = devices; self.memory = memory; self.cpu = cpu; self.pids = pids
        }
    }
    /// A device cgroup rule: `type` a, c or b (nil: all), major/minor nil for any.
    public struct DeviceRule: Codable, Sendable, Equatable {
        public var allow: Bool
        public var type: String?
        public var major: Int64?
        public var minor: Int64?
        public var access: String
        public init(allow: Bool, type: String? = nil, major: Int64? = nil, minor: Int64? = nil, access: String) {
            self.allow = allow; self.type = type; self.major = major; self.minor = minor; self.access = access
        }
    }
    public struct Memory: Codable, Sendable {
        public var limit: Int64?
        public var reservation: Int64?
        public var swap: Int64?
        public var swappiness: UInt64?
        public var disableOOMKiller: Bool?
        public init(limit: Int64?, reservation: Int64?, swap: Int64?, swappiness: UInt64?, disableOOMKiller: Bool?) {
            self.limit = limit; self.reservation = reservation; self.swap = swap; self.swappiness = swappiness
            self.disableOOMKiller = disableOOMKiller
        }
    }
    public struct CPU: Codable, Sendable {
        public var shares: UInt64?
        public var quota: Int64?
        public var period: UInt64?
        public var cpus: String?
        public var mems: String?
        public init() {}
    }
    public struct Pids: Codable, Sendable {
        public var limit: Int64
        public init(limit: Int64) { self.limit = limit }
    }
}

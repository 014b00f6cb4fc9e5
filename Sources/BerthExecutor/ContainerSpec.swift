/// Everything a runtime needs to run a container, resolved by the engine from Docker's
/// configuration: no Docker wire types below this line. The runtime adds what depends on the
/// host and the root filesystem (the user looked up in the image's /etc/passwd, limits clamped to
/// what the host allows, the OCI defaults).
public struct ContainerSpec: Sendable {
    public var id: String
    public var name: String
    /// Image layer directories, bottom first.
    public var layers: [String]
    public var process: ProcessSpec
    public var hostname: String
    public var domainname: String
    /// nil: the host's UTS namespace (its hostname is kept).
    public var ownUTS: Bool
    public var namespaces: [Namespace]
    /// Mounts beyond the OCI defaults and the /etc files (tmpfs, the init binary, volumes).
    public var mounts: [OCISpec.Mount]
    public var readonlyRootfs: Bool
    public var shmSize: Int64
    public var resources: OCISpec.Resources
    public var devices: [OCISpec.Device]
    /// nil: no seccomp filter.
    public var seccomp: OCISpec.Seccomp?
    /// Privileged: no masked or read-only paths, sysfs and cgroupfs writable.
    public var unconfined: Bool
    public var sysctls: [String: String]
    /// The contents of the container's /etc/hostname, /etc/hosts and /etc/resolv.conf.
    public var etc: EtcFiles
    public var log: LogSpec
    /// Bind sources the runtime resolves itself, race-free (volume subpaths).
    public var pinned: [PinnedSource] = []
    /// The container's masked and read-only paths (nil: Docker's defaults).
    public var maskedPaths: [String]? = nil
    public var readonlyPaths: [String]? = nil

    public init(id: String, name: String, layers: [String], process: ProcessSpec, hostname: String, domainname: String,
                ownUTS: Bool, namespaces: [Namespace], mounts: [OCISpec.Mount], readonlyRootfs: Bool, shmSize: Int64,
                resources: OCISpec.Resources, devices: [OCISpec.Device], seccomp: OCISpec.Seccomp?, unconfined: Bool,
                sysctls: [String: String], etc: EtcFiles, log: LogSpec) {
        self.id = id; self.name = name; self.layers = layers; self.process = process; self.hostname = hostname
        self.domainname = domainname; self.ownUTS = ownUTS; self.namespaces = namespaces; self.mounts = mounts
        self.readonlyRootfs = readonlyRootfs; self.shmSize = shmSize; self.resources = resources; self.devices = devices
        self.seccomp = seccomp; self.unconfined = unconfined; self.sysctls = sysctls; self.etc = etc; self.log = log
    }

    /// A namespace the container gets: a new one (`path` nil) or one joined by its path.
    public struct Namespace: Sendable, Equatable {
        public var type: String
        public var path: String?
        public init(_ type: String, path: String? = nil) { self.type = type; self.path = path }
    }
}

/// The container's main process (and the template of its execs).
public struct ProcessSpec: Sendable {
    public var args: [String]
    public var env: [String]
    public var cwd: String
    /// `user`, `uid`, `user:group` or `uid:gid`, looked up in the container's own files.
    public var user: String
    public var additionalGroups: [String]
    public var tty: Bool
    public var openStdin: Bool
    public var stdinOnce: Bool
    public var capabilities: [String]
    public var noNewPrivileges: Bool
    /// Asked for; the runtime clamps them to the host's hard limits.
    public var rlimits: [OCISpec.Rlimit]
    public var oomScoreAdj: Int?

    public init(args: [String], env: [String], cwd: String, user: String, additionalGroups: [String], tty: Bool,
                openStdin: Bool, stdinOnce: Bool, capabilities: [String], noNewPrivileges: Bool, rlimits: [OCISpec.Rlimit],
                oomScoreAdj: Int?) {
        self.args = args; self.env = env; self.cwd = cwd; self.user = user; self.additionalGroups = additionalGroups
        self.tty = tty; self.openStdin = openStdin; self.stdinOnce = stdinOnce; self.capabilities = capabilities
        self.noNewPrivileges = noNewPrivileges; self.rlimits = rlimits; self.oomScoreAdj = oomScoreAdj
    }
}

/// The files the container sees as /etc/hostname, /etc/hosts and /etc/resolv.conf.
public struct EtcFiles: Sendable, Equatable {
    public var hostname: String
    public var hosts: String
    public var resolvConf: String
    public init(hostname: String, hosts: String, resolvConf: String) {
        self.hostname = hostname; self.hosts = hosts; self.resolvConf = resolvConf
    }
}

/// Whether a log is kept, and its limits.
public struct LogSpec: Sendable, Equatable {
    public var keep: Bool
    public var limits: LogLimits
    public init(keep: Bool, limits: LogLimits) { self.keep = keep; self.limits = limits }
}

/// A process started in a running container (`docker exec`).
public struct ExecSpec: Sendable {
    public var args: [String]
    public var env: [String]
    public var user: String?
    public var workingDir: String?
    public var tty: Bool
    public var privileged: Bool
    public var attachStdin: Bool
    public init(args: [String], env: [String], user: String?, workingDir: String?, tty: Bool, privileged: Bool, attachStdin: Bool) {
        self.args = args; self.env = env; self.user = user; self.workingDir = workingDir; self.tty = tty
        self.privileged = privileged; self.attachStdin = attachStdin
    }
}

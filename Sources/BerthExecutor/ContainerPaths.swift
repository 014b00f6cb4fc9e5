/// Where a container's files live. Persistent state under the data root; runtime state (bundle,
/// monitor sockets, exit files) under the exec root.
public struct ContainerPaths: Sendable {
    public let id: String
    public let dir: String
    public let bundle: String
    public let execRoot: String

    public init(id: String, dataRoot: String, execRoot: String) {
        self.id = id
        dir = dataRoot + "/containers/" + id
        bundle = execRoot + "/containers/" + id
        self.execRoot = execRoot
    }

    public var upper: String { dir + "/upper" }
    public var work: String { dir + "/work" }
    public var rootfs: String { dir + "/merged" }
    public var hosts: String { dir + "/hosts" }
    public var hostname: String { dir + "/hostname" }
    public var resolvConf: String { dir + "/resolv.conf" }
    public var log: String { dir + "/ctr.log" }
    public var persist: String { dir + "/persist" }
    public var exitFile: String { execRoot + "/exits/" + id }
    /// conmon's `-u`: names the short socket directory link.
    public var socketName: String { String(id.prefix(16)) }
    public var attachSocket: String { execRoot + "/sock/" + socketName + "/attach" }
    public var ctlFifo: String { bundle + "/ctl" }
    public var conmonPidFile: String { bundle + "/conmon.pid" }
    public var pidFile: String { bundle + "/ctr.pid" }

    /// Bind-mount targets the executor creates in the root filesystem; left out of diffs and commits.
    public static let generatedFiles: Set<String> = ["etc/hosts", "etc/hostname", "etc/resolv.conf"]
}

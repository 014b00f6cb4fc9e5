#if canImport(Glibc)
import Glibc
#endif
import BerthStore
import BerthSystem
import Foundation

/// The local driver's options (`--opt type=… --opt device=… --opt o=…`): such a volume is a
/// mount of `device` on its directory, made when a container using it starts and undone when the
/// last running one stops (users are derived from the store: containers running with a mount
/// row naming it).
extension VolumeService {
    static let optionKeys: Set<String> = ["type", "device", "o"]

    /// At create: the options dockerd's local driver takes.
    static func checkOptions(_ opts: [String: String]?, name: String) throws {
        guard let opts, !opts.isEmpty else { return }
        for k in opts.keys.sorted() where !optionKeys.contains(k) {
            throw BerthError.invalid("create \(name): invalid option: \"\(k)\"")
        }
        if opts["type"] == nil && opts["device"] != nil { throw BerthError.invalid("create \(name): missing required option: \"type\"") }
        if opts["type"] != nil && opts["device"] == nil { throw BerthError.invalid("create \(name): missing required option: \"device\"") }
    }

    func options(_ v: VolumeRecord) -> [String: String] {
        v.options.isEmpty ? [:] : ((try? JSONDecoder().decode([String: String].self, from: Data(v.options.utf8))) ?? [:])
    }

    /// Whether a path is a mount point of this mount namespace.
    static func isMounted(_ path: String) -> Bool {
        guard let info = FS.readText("/proc/self/mountinfo") else { return false }
        return info.split(separator: "\n").contains { line in
            let f = line.split(separator: " ")
            return f.count > 4 && f[4] == path
        }
    }

    /// Before a container that uses the volume starts: its device mounted, if it has one.
    func mountIfNeeded(_ name: String) throws {
        guard let v = try store.volume(name) else { return }
        let o = options(v)
        guard let type = o["type"], let device = o["device"] else { return }
        let target = mountpoint(name)
        if Self.isMounted(target) { return }
        var flags: UInt = 0
        var data: [String] = []
        let known: [String: UInt] = ["bind": UInt(MS_BIND), "rbind": UInt(MS_BIND | MS_REC), "ro": UInt(MS_RDONLY),
                                     "nosuid": UInt(MS_NOSUID), "nodev": UInt(MS_NODEV), "noexec": UInt(MS_NOEXEC),
                                     "sync": UInt(MS_SYNCHRONOUS), "noatime": UInt(MS_NOATIME), "rw": 0]
        for opt in (o["o"] ?? "").split(separator: ",").map(String.init) where !opt.isEmpty {
            if let f = known[opt] { flags |= f } else { data.append(opt) }
        }
        let joined = data.joined(separator: ",")
        let rc = joined.withCString { d in mount(device, target, type == "none" ? nil : type, flags, data.isEmpty ? nil : d) }
        guard rc == 0 else {
            throw BerthError.system("error while mounting volume '\(target)': failed to mount local volume: mount \(device):\(target), flags: 0x\(String(flags, radix: 16)), data: \(joined): \(Syscall.errnoText())")
        }
    }

    /// After a container stopped (or at daemon start): mounts no running container needs go.
    func unmountUnused(_ names: [String]) {
        for n in names {
            guard let v = try? store.volume(n), options(v)["type"] != nil else { continue }
            let target = mountpoint(n)
            guard Self.isMounted(target), ((try? store.runningVolumeUsers(n)) ?? 1) == 0 else { continue }
            if umount2(target, 0) != 0 { _ = umount2(target, Int32(MNT_DETACH)) }
        }
    }
}

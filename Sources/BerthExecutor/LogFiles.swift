#if canImport(Glibc)
import Glibc
#endif
import BerthModels
import BerthSystem
import Foundation
import Synchronization

/// How big a container's log may grow: the monitor starts a new file when the current one would
/// pass `maxSize`, and `maxFiles` files are kept in all (the current one included). Docker's
/// `--log-opt max-size=… --log-opt max-file=…`, from the daemon's flags and each container's
/// `HostConfig.LogConfig.Config`.
public struct LogLimits: Sendable, Equatable {
    /// Bytes; 0 means unbounded (one file that grows for ever).
    public var maxSize: Int64
    public var maxFiles: Int

    public init(maxSize: Int64, maxFiles: Int) { self.maxSize = maxSize; self.maxFiles = maxFiles }

    /// Five files of 64 MiB: a container never holds more than 320 MiB of log.
    public static let defaults = LogLimits(maxSize: 64 << 20, maxFiles: 5)

    /// Drivers whose logs Berth keeps in files it can read back; the container's log is one of them.
    public static let fileDrivers: Set<String> = ["", "k8s-file", "json-file", "local"]
    /// Options the file drivers accept; only the two limits change what Berth does.
    static let knownOptions: Set<String> = ["max-size", "max-file", "compress", "labels", "labels-regex",
                                            "env", "env-regex", "tag", "mode", "max-buffer-size"]

    /// These limits with `options` laid over them; dockerd's error text for bad ones.
    public func applying(_ options: [String: String], driver: String = "k8s-file") throws -> LogLimits {
        var l = self
        for (key, value) in options {
            switch key {
            case "max-size":
                guard let n = Self.parseSize(value) else {
                    throw BerthError.invalid("failed to initialize logging driver: invalid size: '\(value)'")
                }
                l.maxSize = n
            case "max-file":
                guard let n = Int(value), n >= 1 else { throw BerthError.invalid("failed to initialize logging driver: max-file cannot be less than 1") }
                l.maxFiles = n
            default:
                if !Self.knownOptions.contains(key) {
                    throw BerthError.invalid("unknown log opt '\(key)' for \(driver.isEmpty ? "k8s-file" : driver) log driver")
                }
            }
        }
        return l
    }

    /// The limits for a container: the daemon's, with the container's own options laid over.
    public func forContainer(_ config: LogConfig?) throws -> LogLimits {
        guard let config, Self.fileDrivers.contains(config.Type) else { return self }
        return try applying(config.Config ?? [:], driver: config.Type)
    }

    /// Sizes as Docker writes them: `1024`, `512k`, `10m`, `1g`, `10MB`, `1.5GiB` (powers of 1024);
    /// `-1` for unbounded.
    public static func parseSize(_ text: String) -> Int64? {
        let s = text.trimmingCharacters(in: .whitespaces).lowercased()
        if s == "-1" { return 0 }
        let digits = s.prefix(while: { $0.isNumber || $0 == "." })
        guard !digits.isEmpty, let value = Double(digits) else { return nil }
        var unit = s.dropFirst(digits.count).trimmingCharacters(in: .whitespaces)
        if unit.hasSuffix("b") { unit.removeLast() }
        if unit.hasSuffix("i") { unit.removeLast() }
        let shift: Int
        switch unit {
        case "": shift = 0
        case "k": shift = 10
        case "m": shift = 20
        case "g": shift = 30
        case "t": shift = 40
        default: return nil
        }
        let bytes = value * Double(Int64(1) << shift)
        guard bytes >= 1, bytes < 9.2e18 else { return nil }
        return Int64(bytes)
    }
}

/// A container's log files on disk. The monitor (conmon) writes `ctr.log`; when it is full,
/// conmon puts a new, empty file in its place. To keep the full one, Berth holds a second link to
/// the current file (`ctr.log.hold`): after the switch that link is the only name of the old
/// file, and `rotate` moves it to `ctr.log.1`, the older ones to `.2`, `.3`…, dropping what is
/// beyond the limit. A switch while berthd is away is filed at its next start; a second switch
/// before then (or between two inotify deliveries) loses the file in the middle.
public struct LogFiles: Sendable {
    public let current: String
    public init(current: String) { self.current = current }

    var hold: String { current + ".hold" }
    func previous(_ n: Int) -> String { current + ".\(n)" }

    private static func inode(_ path: String) -> ino_t? {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_ino : nil
    }

    /// The numbers of the kept previous files, newest (1) first; gaps are tolerated.
    func previousNumbers() -> [Int] {
        let dir = (current as NSString).deletingLastPathComponent
        let prefix = (current as NSString).lastPathComponent + "."
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.compactMap { $0.hasPrefix(prefix) ? Int($0.dropFirst(prefix.count)) : nil }.sorted()
    }

    /// Every file holding log lines, oldest first, the current one last.
    public func ordered() -> [String] {
        var files = previousNumbers().reversed().map(previous)
        if let h = Self.inode(hold), h != Self.inode(current) { files.append(hold) }
        files.append(current)
        return files
    }

    /// Files a replaced current file as `.1` (shifting the older ones, keeping `maxFiles` files
    /// in all) and links the hold to the current file. Idempotent.
    public func rotate(keeping maxFiles: Int) {
        let cur = Self.inode(current)
        if let h = Self.inode(hold), h != cur {
            if maxFiles <= 1 {
                unlink(hold)
            } else {
                for n in previousNumbers().reversed() {
                    if n >= maxFiles - 1 { unlink(previous(n)) } else { rename(previous(n), previous(n + 1)) }
                }
                rename(hold, previous(1))
            }
        }
        if cur != nil && maxFiles > 1 && Self.inode(hold) == nil { link(current, hold) }
    }
}

/// Keeps previous log files while containers run: one inotify watch per running container's
/// directory, answering conmon's switch to a new file with `LogFiles.rotate`.
public final class LogRotator: Sendable {
    private struct Tracked: Sendable { let token: UInt64?; let files: LogFiles; let limits: LogLimits }
    private let tracked = Mutex<[String: Tracked]>([:])

    public init() {}

    /// Files anything left from before (a switch while berthd was away) and watches from now on.
    public func track(_ paths: ContainerPaths, limits: LogLimits) {
        let files = LogFiles(current: paths.log)
        var token: UInt64? = nil
        if limits.maxSize > 0 && limits.maxFiles > 1 {
            files.rotate(keeping: limits.maxFiles)
            let name = (paths.log as NSString).lastPathComponent
            token = try? FileWatcher.shared.watch(paths.dir, mask: UInt32(IN_MOVED_TO)) { n in
                if n == name { files.rotate(keeping: limits.maxFiles) }
            }
        }
        let old = tracked.withLock { $0.updateValue(Tracked(token: token, files: files, limits: limits), forKey: paths.id) }
        if let t = old?.token { FileWatcher.shared.unwatch(t) }
    }

    /// The container stopped: files a last switch and stops watching.
    public func untrack(_ id: String) {
        guard let t = tracked.withLock({ $0.removeValue(forKey: id) }) else { return }
        if let token = t.token { FileWatcher.shared.unwatch(token) }
        if t.limits.maxSize > 0 { t.files.rotate(keeping: t.limits.maxFiles) }
    }
}

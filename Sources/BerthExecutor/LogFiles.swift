#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import Foundation
import Synchronization

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
    /// One rotation at a time: the inotify thread and a container's exit may both file the same switch.
    private let rotating = Mutex<Void>(())

    public init() {}

    /// Files anything left from before (a switch while berthd was away) and watches from now on.
    public func track(_ paths: ContainerPaths, limits: LogLimits) {
        let files = LogFiles(current: paths.log)
        var token: UInt64? = nil
        if limits.maxSize > 0 && limits.maxFiles > 1 {
            rotating.withLock { _ in files.rotate(keeping: limits.maxFiles) }
            let name = (paths.log as NSString).lastPathComponent
            token = try? FileWatcher.shared.watch(paths.dir, mask: UInt32(IN_MOVED_TO)) { n in
                if n == name { self.rotating.withLock { _ in files.rotate(keeping: limits.maxFiles) } }
            }
        }
        let old = tracked.withLock { $0.updateValue(Tracked(token: token, files: files, limits: limits), forKey: paths.id) }
        if let t = old?.token { FileWatcher.shared.unwatch(t) }
    }

    /// The container stopped: files a last switch and stops watching.
    public func untrack(_ id: String) {
        guard let t = tracked.withLock({ $0.removeValue(forKey: id) }) else { return }
        if let token = t.token { FileWatcher.shared.unwatch(token) }
        if t.limits.maxSize > 0 { rotating.withLock { _ in t.files.rotate(keeping: t.limits.maxFiles) } }
    }
}

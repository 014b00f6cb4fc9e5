#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// inotify for the whole daemon: one descriptor, one reader thread, handlers keyed by token.
/// Used for monitor exit files and for following logs, so nothing polls.
public final class FileWatcher: Sendable {
    public static let shared = FileWatcher()

    private struct Registration {
        let wd: Int32
        let handler: @Sendable (String) -> Void
    }
    private struct State {
        var registrations: [UInt64: Registration] = [:]
        var nextToken: UInt64 = 1
    }
    private let fd: Int32
    private let state = Mutex(State())

    private init() {
        fd = inotify_init1(Int32(IN_CLOEXEC))
        let fd = self.fd
        let thread = Thread { [self] in self.readLoop(fd) }
        thread.name = "berth-inotify"
        thread.start()
    }

    /// Calls `handler` with the name inside `path` (empty for the path itself) on every event in `mask`.
    public func watch(_ path: String, mask: UInt32, _ handler: @escaping @Sendable (String) -> Void) throws -> UInt64 {
        let wd = inotify_add_watch(fd, path, mask | UInt32(IN_MASK_ADD))
        guard wd >= 0 else { throw BerthError.system("inotify watch \(path): \(Syscall.errnoText())") }
        return state.withLock { s in
            let t = s.nextToken
            s.nextToken += 1
            s.registrations[t] = Registration(wd: wd, handler: handler)
            return t
        }
    }

    public func unwatch(_ token: UInt64) {
        let fd = self.fd
        state.withLock { s in
            guard let r = s.registrations.removeValue(forKey: token) else { return }
            if !s.registrations.values.contains(where: { $0.wd == r.wd }) { _ = inotify_rm_watch(fd, r.wd) }
        }
    }

    private func readLoop(_ fd: Int32) {
        var buf = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { if errno == EINTR { continue }; return }
            var off = 0
            while off + 16 <= n {
                let (wd, len) = buf.withUnsafeBytes { p -> (Int32, Int) in
                    (p.loadUnaligned(fromByteOffset: off, as: Int32.self),
                     Int(p.loadUnaligned(fromByteOffset: off + 12, as: UInt32.self)))
                }
                var name = ""
                if len > 0 {
                    let raw = buf[(off + 16)..<(off + 16 + len)]
                    name = String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                off += 16 + len
                let handlers = state.withLock { s in s.registrations.values.filter { $0.wd == wd }.map(\.handler) }
                for h in handlers { h(name) }
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import CBerthSys
import Foundation

/// Starting helper programs (runc, conmon) with posix_spawn. Arguments go straight to exec,
/// never through a shell.
public enum Subprocess {
    public struct Result: Sendable {
        public let status: Int32
        public let stdout: [UInt8]
        public let stderr: [UInt8]
        public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
        public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    }

    /// What the child gets on a file descriptor.
    public enum Stdio: Sendable {
        case null
        case fd(Int32)
    }

    /// Spawns `argv[0]` with the given descriptors mapped into the child (`target: source`).
    /// Every other descriptor is closed in the child: not everything in the daemon is
    /// close-on-exec (accepted sockets, for one), and a monitor that outlives berthd must not keep
    /// a client's connection or the database open.
    public static func spawn(_ argv: [String], env: [String]? = nil, cwd: String? = nil,
                             stdin: Stdio = .null, stdout: Stdio = .null, stderr: Stdio = .null,
                             extraFds: [Int32: Int32] = [:], newSession: Bool = false,
                             controllingTerminal: String? = nil) throws -> pid_t {
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        var mapping: [(Int32, Stdio)] = [(0, stdin), (1, stdout), (2, stderr)]
        for (t, s) in extraFds.sorted(by: { $0.key < $1.key }) { mapping.append((t, .fd(s))) }
        // Move sources out of the way first so a source that equals another target survives.
        var moved: [Int32] = []
        defer { moved.forEach { close($0) } }
        var staged: [(Int32, Int32?)] = []
        for (target, src) in mapping {
            switch src {
            case .null: staged.append((target, nil))
            case .fd(let s):
                let d = fcntl(s, F_DUPFD_CLOEXEC, 100)
                guard d >= 0 else { throw BerthError.system("dup: \(Syscall.errnoText())") }
                moved.append(d)
                staged.append((target, d))
            }
        }
        for (target, src) in staged {
            if let s = src { posix_spawn_file_actions_adddup2(&fa, s, target) }
            else { posix_spawn_file_actions_addopen(&fa, target, "/dev/null", O_RDWR, 0) }
        }
        berth_spawn_addclosefrom(&fa, (mapping.map(\.0).max() ?? 2) + 1)
        if let tty = controllingTerminal {
            // Opening the terminal in the new session makes it the controlling one.
            posix_spawn_file_actions_addopen(&fa, 99, tty, O_RDWR, 0)
            posix_spawn_file_actions_addclose(&fa, 99)
        }
        if let cwd { berth_spawn_addchdir(&fa, cwd) }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var sigs = sigset_t()
        sigemptyset(&sigs)
        posix_spawnattr_setsigmask(&attr, &sigs)
        var def = sigset_t()
        sigfillset(&def)
        posix_spawnattr_setsigdefault(&attr, &def)
        // 0x80 is POSIX_SPAWN_SETSID (glibc), which Swift does not import.
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | (newSession ? 0x80 : 0)))

        let environment = env ?? ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        var cargs = argv.map { strdup($0) } + [nil]
        var cenv = environment.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) }; cenv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, argv[0], &fa, &attr, &cargs, &cenv)
        guard rc == 0 else { throw BerthError.system("spawn \(argv[0]): \(Syscall.errnoText(rc))") }
        return pid
    }

    /// Waits for a specific child (never `-1`, so other waiters keep their statuses).
    public static func waitStatus(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        if status & 0x7f == 0 { return (status >> 8) & 0xff }
        return 128 + (status & 0x7f)
    }

    /// Runs a program to completion on a background thread, collecting its output.
    public static func run(_ argv: [String], env: [String]? = nil, cwd: String? = nil,
                           input: [UInt8]? = nil) async throws -> Result {
        try await withCheckedThrowingContinuation { cont in
            DispatchQueue.global().async {
                do { cont.resume(returning: try runBlocking(argv, env: env, cwd: cwd, input: input)) }
                catch { cont.resume(throwing: error) }
            }
        }
    }

    public static func runBlocking(_ argv: [String], env: [String]? = nil, cwd: String? = nil,
                                   input: [UInt8]? = nil) throws -> Result {
        let out = try Syscall.pipe()
        let err = try Syscall.pipe()
        var inPipe: (read: Int32, write: Int32)? = nil
        if input != nil { inPipe = try Syscall.pipe() }
        let pid: pid_t
        do {
            pid = try spawn(argv, env: env, cwd: cwd, stdin: inPipe.map { .fd($0.read) } ?? .null,
                            stdout: .fd(out.write), stderr: .fd(err.write))
        } catch {
            [out.read, out.write, err.read, err.write].forEach(Syscall.closeQuietly)
            if let p = inPipe { Syscall.closeQuietly(p.read); Syscall.closeQuietly(p.write) }
            throw error
        }
        close(out.write); close(err.write)
        if let p = inPipe {
            close(p.read)
            let bytes = input ?? []
            let w = p.write
            DispatchQueue.global().async {
                bytes.withUnsafeBytes { try? Syscall.writeAll(w, $0) }
                close(w)
            }
        }
        let errBox = ByteBox()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { errBox.set(Syscall.readAll(err.read)); group.leave() }
        let stdoutBytes = Syscall.readAll(out.read)
        group.wait()
        close(out.read); close(err.read)
        let status = waitStatus(pid)
        return Result(status: status, stdout: stdoutBytes, stderr: errBox.get())
    }
}

private final class ByteBox: @unchecked Sendable {
    private var bytes: [UInt8] = []
    private let lock = NSLock()
    func set(_ b: [UInt8]) { lock.lock(); bytes = b; lock.unlock() }
    func get() -> [UInt8] { lock.lock(); defer { lock.unlock() }; return bytes }
}

#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import CBerthSys
import Foundation

/// A process started in a running container with `runc exec`, its stdio on pipes held by berthd.
/// (Exec sessions do not outlive berthd; containers do.)
public final class ExecProcess: ExecSession {
    public let output: AsyncStream<OutputChunk>
    private let stdinFd: LockedFD
    private let pid: pid_t
    private let exitTask: Task<Int32, Never>
    public let pidFile: String
    /// The first bytes runc wrote, kept to tell why a process never started.
    private let early: EarlyBytes

    /// The pty master, for TTY execs (runc hands it over on the console socket).
    private let master: LockedFD?

    public convenience init(runc: Runc, containerID: String, process: OCISpec.Process, workDir: String, attachStdin: Bool) throws {
        if process.terminal {
            try self.init(ttyRunc: runc, containerID: containerID, process: process, workDir: workDir)
        } else {
            try self.init(pipeRunc: runc, containerID: containerID, process: process, workDir: workDir, attachStdin: attachStdin)
        }
    }

    private init(pipeRunc runc: Runc, containerID: String, process: OCISpec.Process, workDir: String, attachStdin: Bool) throws {
        master = nil
        let early = EarlyBytes()
        self.early = early
        pidFile = workDir + "/pid"
        let specPath = try Self.writeSpec(process, workDir: workDir)
        let out = try Syscall.pipe(), err = try Syscall.pipe()
        let inp = attachStdin ? try Syscall.pipe() : nil
        let argv = [Monitor.which(runc.binary) ?? runc.binary, "--root", runc.root, "exec", "--process", specPath,
                    "--pid-file", pidFile, containerID]
        do {
            pid = try Subprocess.spawn(argv, stdin: inp.map { .fd($0.read) } ?? .null, stdout: .fd(out.write), stderr: .fd(err.write))
        } catch {
            [out.read, out.write, err.read, err.write, inp?.read ?? -1, inp?.write ?? -1].forEach(Syscall.closeQuietly)
            throw error
        }
        Glibc.close(out.write); Glibc.close(err.write)
        if let inp { Glibc.close(inp.read) }
        stdinFd = LockedFD(inp?.write ?? -1)
        var cont: AsyncStream<OutputChunk>.Continuation!
        output = AsyncStream(bufferingPolicy: .bufferingOldest(4096)) { cont = $0 }
        let c = cont!
        let remaining = LockedCounter(2)
        for (fd, stream) in [(out.read, UInt8(1)), (err.read, UInt8(2))] {
            let t = Thread {
                var buf = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    if stream == 2 { early.keep(buf[0..<n]) }
                    c.yield(OutputChunk(stream: stream, bytes: Array(buf[0..<n])))
                }
                Glibc.close(fd)
                if remaining.decrement() == 0 { c.finish(); early.finish() }
            }
            t.start()
        }
        let p = pid
        exitTask = Task.detached { await BlockingIO.run { Subprocess.waitStatus(p) } }
    }

    /// TTY exec. runc only hands a pty out (console socket) when it detaches, and then the exit
    /// code is lost without a subreaper; so runc runs in the foreground with a pty of ours as its
    /// stdio (raw mode) and relays to the container's own pty. Resizes go through ours.
    private init(ttyRunc runc: Runc, containerID: String, process: OCISpec.Process, workDir: String) throws {
        let early = EarlyBytes()
        self.early = early
        pidFile = workDir + "/pid"
        let specPath = try Self.writeSpec(process, workDir: workDir)
        var m: Int32 = -1, slave: Int32 = -1
        var ws = winsize(ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0)
        guard openpty(&m, &slave, nil, nil, &ws) == 0 else { throw BerthError.system("openpty: \(Syscall.errnoText())") }
        _ = fcntl(m, F_SETFD, FD_CLOEXEC)
        _ = fcntl(slave, F_SETFD, FD_CLOEXEC)
        var tio = termios()
        tcgetattr(slave, &tio)
        cfmakeraw(&tio)
        tcsetattr(slave, TCSANOW, &tio)
        var nameBuf = [CChar](repeating: 0, count: 128)
        ttyname_r(slave, &nameBuf, 128)
        let slaveName = String(cString: nameBuf)
        let argv = [Monitor.which(runc.binary) ?? runc.binary, "--root", runc.root, "exec", "--tty",
                    "--process", specPath, "--pid-file", pidFile, containerID]
        do {
            pid = try Subprocess.spawn(argv, stdin: .fd(slave), stdout: .fd(slave), stderr: .fd(slave), newSession: true,
                                       controllingTerminal: slaveName)
        } catch {
            Glibc.close(m); Glibc.close(slave); throw error
        }
        Glibc.close(slave)
        let masterFd = m
        master = LockedFD(m)
        stdinFd = LockedFD(-1)
        var cont: AsyncStream<OutputChunk>.Continuation!
        output = AsyncStream(bufferingPolicy: .bufferingOldest(4096)) { cont = $0 }
        let c = cont!
        let t = Thread {
            var b = [UInt8](repeating: 0, count: 65536)
            // runc writes one NUL into the container's terminal when it starts relaying; with echo
            // on, the terminal shows it as "^@". dockerd's output has no such bytes, so drop them.
            var pendingEcho: [UInt8] = [UInt8(ascii: "^"), UInt8(ascii: "@")]
            while true {
                let n = b.withUnsafeMutableBytes { Glibc.read(masterFd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }  // EIO once the process is gone
                var chunk = Array(b[0..<n])
                early.keep(chunk[...])
                while !pendingEcho.isEmpty, let first = chunk.first {
                    if first == pendingEcho[0] { chunk.removeFirst(); pendingEcho.removeFirst() }
                    else { pendingEcho = [] }
                }
                if !chunk.isEmpty { c.yield(OutputChunk(stream: 1, bytes: chunk)) }
            }
            c.finish()
            early.finish()
        }
        t.start()
        let p = pid
        exitTask = Task.detached { await BlockingIO.run { Subprocess.waitStatus(p) } }
    }

    /// Resizes the exec's terminal.
    public func resize(height: Int, width: Int) {
        master?.withFD { fd in
            guard fd >= 0 else { return }
            var ws = winsize(ws_row: UInt16(clamping: height), ws_col: UInt16(clamping: width), ws_xpixel: 0, ws_ypixel: 0)
            _ = ioctl(fd, UInt(TIOCSWINSZ), &ws)
        }
    }

    /// Writes the process spec for `runc exec --process` and clears an old pid file.
    static func writeSpec(_ process: OCISpec.Process, workDir: String) throws -> String {
        try FS.mkdirAll(workDir, mode: 0o700)
        FS.removeAll(workDir + "/pid")
        let specPath = workDir + "/process.json"
        try FS.writeAtomically(specPath, try JSONEncoder().encode(process), mode: 0o600)
        return specPath
    }

    /// The exec'd process's host pid, once runc wrote it.
    public var processPid: Int32 {
        Int32((try? String(contentsOfFile: pidFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
    }

    /// Waits for the process; runc exec returns the process's exit status. When the process never
    /// started, the code is dockerd's: 127 for a command not found, 126 for one not executable.
    public func wait() async -> Int32 {
        let code = await exitTask.value
        guard code == 255 else { return code }
        // runc's report may still be in the pipe when it exits: read to the end first (a process
        // that exited 255 itself may have left a child holding the pipe: then wait 2 s at most).
        let early = self.early
        let bound = Task { try? await Task.sleep(for: .seconds(2)); early.finish() }
        await early.complete()
        bound.cancel()
        return Int32(Self.startFailureCode(early.text) ?? Int(code))
    }

    /// runc's report that the command could not be started (it then exits 255), as dockerd's
    /// exit codes: 127 for a command not found, 126 for one that cannot be executed.
    static func startFailureCode(_ text: String) -> Int? {
        guard text.contains("unable to start container process") || text.contains("exec failed") else { return nil }
        if text.contains("executable file not found") || text.contains("no such file or directory") { return 127 }
        if text.contains("permission denied") { return 126 }
        return nil
    }

    public func writeStdin(_ bytes: [UInt8]) async {
        let f = master ?? stdinFd
        _ = await BlockingIO.run { f.withFD { fd in fd >= 0 && bytes.withUnsafeBytes { (try? Syscall.writeAll(fd, $0)) != nil } } }
    }

    /// A terminal has no end of input short of hanging up; only pipes are closed.
    public func closeStdin() { stdinFd.closeFD() }
    public func close() { stdinFd.closeFD() }
}

final class LockedFD: @unchecked Sendable {
    private var fd: Int32
    private let lock = NSLock()
    init(_ fd: Int32) { self.fd = fd }
    func withFD<T>(_ body: (Int32) -> T) -> T { lock.lock(); defer { lock.unlock() }; return body(fd) }
    func closeFD() { lock.lock(); if fd >= 0 { Glibc.close(fd); fd = -1 }; lock.unlock() }
    deinit { if fd >= 0 { Glibc.close(fd) } }
}

/// Up to 4 KiB of a stream's first bytes.
final class EarlyBytes: @unchecked Sendable {
    private var bytes: [UInt8] = []
    private var done = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private let lock = NSLock()
    func keep(_ b: ArraySlice<UInt8>) {
        lock.lock(); defer { lock.unlock() }
        if bytes.count < 4096 { bytes += b.prefix(4096 - bytes.count) }
    }
    var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: bytes, as: UTF8.self) }

    /// The readers saw the end of the output (everything runc wrote is in), or waiting is over.
    func finish() {
        lock.lock()
        done = true
        let w = waiters
        waiters = []
        lock.unlock()
        w.forEach { $0.resume() }
    }

    /// Waits for `finish`.
    func complete() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            lock.lock()
            if done { lock.unlock(); c.resume(); return }
            waiters.append(c)
            lock.unlock()
        }
    }
}

final class LockedCounter: @unchecked Sendable {
    private var n: Int
    private let lock = NSLock()
    init(_ n: Int) { self.n = n }
    func decrement() -> Int { lock.lock(); defer { lock.unlock() }; n -= 1; return n }
}

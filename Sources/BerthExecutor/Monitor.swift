#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import Foundation

/// The per-container monitor: conmon (EXECUTOR-FACTS §2). It runs `runc create`, holds the
/// container's stdio and pty, writes the log and the exit file, serves the attach socket, and
/// outlives berthd. Berth runs `runc start` itself once attachers are connected.
public struct Monitor: Sendable {
    public let binary: String
    public let runc: Runc

    public struct Options: Sendable {
        public var tty: Bool
        public var stdin: Bool
        public var stdinOnce: Bool
        /// conmon starts a new log file when the current one would pass this; 0 for never.
        public var logSizeMax: Int64
        /// False for the `none` log driver: conmon keeps no log.
        public var keepLog: Bool
        public init(tty: Bool, stdin: Bool, stdinOnce: Bool, logSizeMax: Int64, keepLog: Bool = true) {
            self.tty = tty; self.stdin = stdin; self.stdinOnce = stdinOnce; self.logSizeMax = logSizeMax; self.keepLog = keepLog
        }
    }

    public init(binary: String = "conmon", runc: Runc) {
        self.binary = binary
        self.runc = runc
    }

    /// Starts conmon, which creates the container; returns the container's init pid and conmon's pid.
    public func create(paths: ContainerPaths, name: String, options: Options) async throws -> (pid: Int32, monitorPid: Int32) {
        try await withCheckedThrowingContinuation { cont in
            DispatchQueue.global().async {
                do { cont.resume(returning: try createBlocking(paths: paths, name: name, options: options)) }
                catch { cont.resume(throwing: error) }
            }
        }
    }

    func createBlocking(paths: ContainerPaths, name: String, options: Options) throws -> (pid: Int32, monitorPid: Int32) {
        let runcPath = Self.which(runc.binary) ?? runc.binary
        var args = [binary, "--api-version", "1", "-c", paths.id, "-u", paths.socketName, "-n", name,
                    "-r", runcPath, "--runtime-arg", "--root", "--runtime-arg", runc.root,
                    "-b", paths.bundle, "-p", paths.pidFile, "-P", paths.conmonPidFile,
                    "-l", options.keepLog ? "k8s-file:" + paths.log : "none:", "--exit-dir", paths.execRoot + "/exits", "-0", paths.persist,
                    "--socket-dir-path", paths.execRoot + "/sock", "--log-level", "error"]
        if options.logSizeMax > 0 && options.keepLog { args += ["--log-size-max", String(options.logSizeMax)] }
        if options.tty { args.append("-t") }
        if options.stdin { args.append("-i") }
        if options.stdin && !options.stdinOnce { args.append("--leave-stdin-open") }
        let sync = try Syscall.pipe()
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("_OCI_") }.map { "\($0.key)=\($0.value)" }
        env.append("_OCI_SYNCPIPE=3")
        let pid: pid_t
        do {
            pid = try Subprocess.spawn(args, env: env, cwd: paths.dir, extraFds: [3: sync.write])
        } catch {
            close(sync.read); close(sync.write)
            throw error
        }
        close(sync.write)
        defer { close(sync.read) }
        let status = Subprocess.waitStatus(pid)
        // One JSON line: {"data": pid} or {"data": -1, "message": "..."}.
        var line: [UInt8] = []
        var b: UInt8 = 0
        while read(sync.read, &b, 1) == 1 {
            if b == UInt8(ascii: "\n") { break }
            line.append(b)
        }
        struct Sync: Decodable { let data: Int32; let message: String? }
        guard let msg = try? JSONDecoder().decode(Sync.self, from: Data(line)) else {
            throw BerthError.system("conmon failed (exit \(status)) without a report")
        }
        guard msg.data > 0 else {
            throw BerthError.system(Runc.errorText(msg.message ?? "container create failed"))
        }
        let monitorPid = Int32((try? String(contentsOfFile: paths.conmonPidFile, encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        return (msg.data, monitorPid)
    }

    /// Resolves a program name on PATH.
    public static func which(_ name: String) -> String? {
        if name.contains("/") { return name }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(separator: ":") {
            let p = "\(dir)/\(name)"
            if access(p, X_OK) == 0 { return p }
        }
        return nil
    }

    /// The exit code conmon recorded, and whether the kernel OOM-killed the container.
    /// `at` is when the file was written (nanoseconds), which is when the container exited.
    public static func exitStatus(_ paths: ContainerPaths) -> (code: Int32, oom: Bool, at: Int64)? {
        guard let s = try? String(contentsOfFile: paths.exitFile, encoding: .utf8),
              let code = Int32(s.trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
        var st = stat()
        let at = stat(paths.exitFile, &st) == 0
            ? Timestamp.nanosSaturating(seconds: Int64(st.st_mtim.tv_sec), nanos: Int64(st.st_mtim.tv_nsec)) : Timestamp.nowNanos()
        return (code, FS.exists(paths.persist + "/oom") || FS.exists(paths.dir + "/oom"), at)
    }
}

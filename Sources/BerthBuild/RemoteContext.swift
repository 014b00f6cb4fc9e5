#if canImport(Glibc)
import Glibc
#endif
import AsyncHTTPClient
import BerthExecutor
import BerthImage
import BerthSystem
import CBerthSys
import Foundation
import NIOCore

/// `POST /build?remote=…`: a build context fetched by berthd, as dockerd fetches it — a git
/// repository (cloned with the `git` command, no shell), or an http(s) URL of a tarball or of a
/// Dockerfile alone. Downloads are capped; nothing is run from what is fetched.
public enum RemoteContext {
    public static let maxDownload: Int64 = 1 << 30

    /// dockerd's rule for a git remote.
    public static func isGit(_ remote: String) -> Bool {
        remote.hasPrefix("git://") || remote.hasPrefix("git@") || remote.hasPrefix("github.com/")
            || ((remote.hasPrefix("http://") || remote.hasPrefix("https://")) && (remote.split(separator: "#").first ?? "").hasSuffix(".git"))
    }

    /// Clones `remote` (`URL[#ref[:subdir]]`) into `dir`; returns the context directory.
    ///
    /// The repository is hostile: submodules may not use local paths or `ext::` commands, the
    /// clone is bounded in time, and the subdirectory is resolved inside the checkout (a link
    /// in the repository cannot make the host's files the context).
    public static func clone(_ remote: String, into dir: String) async throws -> String {
        let parts = remote.split(separator: "#", maxSplits: 1).map(String.init)
        var url = parts[0]
        if url.hasPrefix("github.com/") { url = "https://" + url }
        guard !url.hasPrefix("-"), !url.contains("\n") else { throw BerthError.invalid("invalid git remote: \(remote)") }
        let fragment = parts.count > 1 ? parts[1].split(separator: ":", maxSplits: 1).map(String.init) : []
        let ref = fragment.first.flatMap { $0.isEmpty ? nil : $0 }
        let sub = fragment.count > 1 ? fragment[1] : ""
        if let ref, ref.hasPrefix("-") { throw BerthError.invalid("invalid git reference: \(ref)") }
        var env = ["GIT_TERMINAL_PROMPT=0", "GIT_PROTOCOL_FROM_USER=0", "GIT_SSH_COMMAND=ssh -o BatchMode=yes", "PATH=/usr/bin:/bin"]
        if let home = ProcessInfo.processInfo.environment["HOME"] { env.append("HOME=" + home) }
        // Shallow first; a "dumb" HTTP server cannot serve a shallow clone, so then in full.
        var failure = ""
        for shallow in [true, false] {
            FS.removeAll(dir)
            var argv = ["timeout", "-k", "10", "900", "git", "-c", "protocol.file.allow=never", "-c", "protocol.ext.allow=never",
                        "-c", "http.lowSpeedLimit=1", "-c", "http.lowSpeedTime=120", "clone", "--quiet", "--recurse-submodules"]
            if shallow { argv += ["--depth", "1", "--shallow-submodules"] }
            if let ref { argv += ["--branch", ref] }
            argv += ["--", url, dir]
            let r = try await Subprocess.run(argv, env: env)
            if r.status == 0 { failure = ""; break }
            failure = r.stderrText.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard failure.isEmpty else { throw BerthError.invalid("unable to prepare context: unable to 'git clone' to temporary context directory: \(failure)") }
        guard !sub.isEmpty else { return dir }
        guard let rel = ContainerFiles.resolvedInside(root: dir, sub, flags: BERTH_O_PATH | O_DIRECTORY) else {
            throw BerthError.invalid("subdirectory \(sub) not found in the repository")
        }
        return rel.isEmpty ? dir : dir + "/" + rel
    }

    /// Downloads an http(s) URL to `path` (at most `maxDownload` bytes).
    public static func download(_ url: String, to path: String,
                                progress: (@Sendable (_ current: Int64, _ total: Int64?) -> Void)? = nil) async throws {
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw BerthError.invalid("unable to prepare context: unsupported remote: \(url)")
        }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
            redirectConfiguration: .follow(max: 5, allowCycles: false), timeout: .init(connect: .seconds(15), read: .seconds(120))))
        defer { _ = client.shutdown() }
        let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(600))
        guard response.status == .ok else {
            throw BerthError.invalid("unable to prepare context: error downloading remote context \(url): \(response.status.code) \(response.status.reasonPhrase)")
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BerthError.system("create \(path): \(Syscall.errnoText())") }
        defer { close(fd) }
        var total: Int64 = 0
        let length = response.headers.first(name: "Content-Length").flatMap { Int64($0) }
        var clock = ProgressClock()
        for try await var chunk in response.body {
            total += Int64(chunk.readableBytes)
            guard total <= maxDownload else { throw BerthError.invalid("remote context \(url) is larger than \(maxDownload) bytes") }
            try chunk.withUnsafeReadableBytes { try Syscall.writeAll(fd, $0) }
            chunk.moveReaderIndex(to: chunk.writerIndex)
            if let progress, clock.due() { progress(total, length) }
        }
        progress?(total, length)
    }
}

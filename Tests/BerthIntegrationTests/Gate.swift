#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// What the integration tier needs from the host. These tests start berthd for real (overlayfs,
/// runc under conmon, cgroups) and drive it with real clients, so they run as root with those installed; elsewhere they
/// are skipped and say why. `scripts/install-deps.sh` installs everything; CI runs as root.
enum Gate {
    static func onPath(_ name: String) -> Bool {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin:/usr/local/bin"
        return dirs.split(separator: ":").contains { access("\($0)/\(name)", X_OK) == 0 }
    }

    /// Root, runc and conmon (berthd can run containers), and the docker CLI that drives most tests.
    static let runtime = getuid() == 0 && onPath("runc") && onPath("conmon") && onPath("docker")
    static let runtimeReason: Comment = "needs root, runc, conmon and the docker CLI (scripts/install-deps.sh installs them; CI runs as root)"
    static let dockerCLI = runtime
    static let dockerCLIReason = runtimeReason

    /// The Python Docker SDK as well.
    static let pythonSDK: Bool = {
        guard runtime, onPath("python3") else { return false }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import docker"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()
    static let pythonSDKReason: Comment = "needs root, runc, conmon and the Python docker SDK (scripts/install-deps.sh)"
}

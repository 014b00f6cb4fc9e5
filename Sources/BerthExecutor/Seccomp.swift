#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import CBerthSys
import Foundation

/// A seccomp profile in Docker's format, and its conversion into the OCI spec for one container:
/// rules whose `includes`/`excludes` (capabilities, architectures, minimum kernel) do not fit the
/// container are left out, and the architecture list becomes the host's native one plus the
/// sub-architectures its kernel can run.
public struct SeccompProfile: Codable, Sendable {
    public var defaultAction: String
    public var defaultErrnoRet: UInt32?
    public var architectures: [String]?
    public var archMap: [ArchMap]?
    public var syscalls: [Rule]?

    public struct ArchMap: Codable, Sendable {
        public var architecture: String
        public var subArchitectures: [String]?
    }
    public struct Rule: Codable, Sendable {
        public var names: [String]?
        public var name: String?
        public var action: String
        public var errnoRet: UInt32?
        public var args: [OCISpec.SeccompArg]?
        public var includes: Filter?
        public var excludes: Filter?
    }
    public struct Filter: Codable, Sendable {
        public var caps: [String]?
        public var arches: [String]?
        public var minKernel: String?
    }

    /// Docker's default policy (`DefaultSeccompProfile`).
    public static let dockerDefault: SeccompProfile = {
        do { return try JSONDecoder().decode(SeccompProfile.self, from: Data(DefaultSeccompProfile.json.utf8)) }
        catch { fatalError("the built-in seccomp profile does not decode: \(error)") }
    }()

    static let actions: Set<String> = ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
                                       "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"]

    /// A profile a client sent (`--security-opt seccomp=FILE`: the docker CLI sends the file's JSON).
    public static func parse(_ json: String) throws -> SeccompProfile {
        let p: SeccompProfile
        do { p = try JSONDecoder().decode(SeccompProfile.self, from: Data(json.utf8)) }
        catch { throw BerthError.invalid("Decoding seccomp profile failed: \(error)") }
        guard actions.contains(p.defaultAction) else { throw BerthError.invalid("invalid seccomp profile: unknown action \(p.defaultAction)") }
        for r in p.syscalls ?? [] where !actions.contains(r.action) {
            throw BerthError.invalid("invalid seccomp profile: unknown action \(r.action)")
        }
        return p
    }

    /// Docker's architecture names for this host (`includes.arches` uses them).
    static var hostArches: Set<String> {
        #if arch(x86_64)
        return ["amd64", "x86_64"]
        #elseif arch(arm64)
        return ["arm64", "aarch64"]
        #else
        return []
        #endif
    }

    static var nativeArch: String {
        #if arch(x86_64)
        return "SCMP_ARCH_X86_64"
        #elseif arch(arm64)
        return "SCMP_ARCH_AARCH64"
        #else
        return ""
        #endif
    }

    /// Sub-architectures the running kernel can execute: a filter that lists one the kernel
    /// cannot run only costs time at every container start (x32 is off in most kernels).
    static let x32Available = berth_x32_abi_available() == 1

    static func runnableSubArches(_ sub: String) -> Bool { sub != "SCMP_ARCH_X32" || x32Available }

    static let kernel: (Int, Int) = {
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: u.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        let parts = release.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        return (parts.first ?? 0, parts.count > 1 ? parts[1] : 0)
    }()

    /// The profile for a container holding `capabilities`.
    public func oci(capabilities: [String]) -> OCISpec.Seccomp {
        let caps = Set(capabilities)
        var arches: [String] = architectures ?? []
        if let map = archMap, let native = map.first(where: { $0.architecture == Self.nativeArch }) {
            arches = [native.architecture] + (native.subArchitectures ?? []).filter(Self.runnableSubArches)
        }
        func kernelAtLeast(_ v: String) -> Bool {
            let p = v.split(separator: ".").compactMap { Int($0) }
            return Self.kernel >= (p.first ?? 0, p.count > 1 ? p[1] : 0)
        }
        var rules: [OCISpec.SeccompRule] = []
        for r in syscalls ?? [] {
            if let inc = r.includes {
                if let a = inc.arches, !a.contains(where: Self.hostArches.contains) { continue }
                if let c = inc.caps, !c.allSatisfy(caps.contains) { continue }
                if let k = inc.minKernel, !kernelAtLeast(k) { continue }
            }
            if let exc = r.excludes {
                if let a = exc.arches, a.contains(where: Self.hostArches.contains) { continue }
                if let c = exc.caps, c.contains(where: caps.contains) { continue }
                if let k = exc.minKernel, kernelAtLeast(k) { continue }
            }
            let names = (r.names ?? []) + (r.name.map { [$0] } ?? [])
            guard !names.isEmpty else { continue }
            rules.append(.init(names: names, action: r.action, errnoRet: r.errnoRet, args: r.args))
        }
        return OCISpec.Seccomp(defaultAction: defaultAction, defaultErrnoRet: defaultErrnoRet, architectures: arches, syscalls: rules)
    }
}

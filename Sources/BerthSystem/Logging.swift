import Logging

/// Named loggers for each part of the daemon.
public enum Log {
    public static func logger(_ label: String) -> Logger { Logger(label: "berth.\(label)") }
}

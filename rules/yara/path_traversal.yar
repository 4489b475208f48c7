/*
   Path traversal in requests: ../ sequences (raw, URL-encoded, double-encoded, overlong UTF-8,
   backslashes) in a request line or parameter that climb out of the web root, and the sensitive
   files attackers reach for. Relative links in pages ("../index.html") are not requests.
*/

rule CityShield_Exploit_Path_Traversal_Sensitive_File
{
    meta:
        description = "Path traversal towards a sensitive system file (/etc/passwd, win.ini, web.config, ...)"
        author = "CityShield"
        date = "2026-03-02"
        severity = "high"
        category = "exploit"
        mitre_attack = "T1190 T1083"
    strings:
        $dots = /(\.\.|%2e%2e|%252e%252e|\.%2e|%2e\.|%c0%ae%c0%ae|\.\.%c0%af|%uff0e%uff0e)(\/|\\|%2f|%5c|%252f|%255c|%c0%af|%c1%9c)(\.\.|%2e%2e|%252e%252e|\.%2e|%2e\.|%c0%ae%c0%ae|\.\.%c0%af|%uff0e%uff0e)(\/|\\|%2f|%5c|%252f|%255c|%c0%af|%c1%9c)[^\s]{0,200}(etc(\/|%2f|%252f)(passwd|shadow|hosts|group|issue)|proc(\/|%2f)self(\/|%2f)(environ|cmdline)|win(dows)?(\/|\\|%2f|%5c)win\.ini|boot\.ini|web\.config|WEB-INF(\/|\\|%2f|%5c)web\.xml|\.ssh(\/|%2f)(id_rsa|authorized_keys)|\.env\b|wp-config\.php)/ nocase
    condition:
        $dots
}

rule CityShield_Exploit_Path_Traversal_Encoded
{
    meta:
        description = "Encoded path traversal in a request (URL, double or overlong UTF-8 encoding)"
        author = "CityShield"
        date = "2026-03-02"
        severity = "medium"
        category = "exploit"
        mitre_attack = "T1190"
    strings:
        $enc1 = /(%2e%2e|%252e%252e|\.%2e|%2e\.)(%2f|%5c|%252f|%255c|\/|\\)(%2e%2e|%252e%252e|\.%2e|%2e\.|\.\.)/ nocase
        $enc2 = /\.\.(%2f|%5c|%252f|%255c)\.\.(%2f|%5c|%252f|%255c)/ nocase
        $enc3 = /(%c0%ae|%c0%af|%c1%9c|%c1%1c|%e0%80%ae|%uff0e|%u2215|%u2216)/ nocase
        $enc4 = /\.\.;\/\.\.;\// nocase
    condition:
        any of them
}

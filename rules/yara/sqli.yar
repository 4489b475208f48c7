/*
   SQL injection in requests: the classic payloads of sqlmap and manual testing, raw and
   URL-encoded, where a parameter value closes a quote or appends a clause. Text about SQL in
   pages (a tutorial, a log viewer) is not a request: the patterns require request syntax
   (a parameter: "=" or "?" or "&" before the payload, or a quote that closes the value).
*/

rule CityShield_Exploit_SQLi_Union_Select
{
    meta:
        description = "SQL injection: UNION SELECT appended to a parameter"
        author = "CityShield"
        date = "2026-03-02"
        severity = "high"
        category = "exploit"
        mitre_attack = "T1190"
    strings:
        $union = /[=?&][^&\s]{0,60}(['"\)]|%27|%22|%29|\b[0-9]+)(\s|\+|%20|%09|%0a|\/\*[^*]{0,20}\*\/)+union((\s|\+|%20|%09|%0a|\/\*[^*]{0,20}\*\/)+(all|distinct))?(\s|\+|%20|%09|%0a|\/\*[^*]{0,20}\*\/)+select(\s|\+|%20|%09|%0a|\(|\/\*)/ nocase
    condition:
        $union
}

rule CityShield_Exploit_SQLi_Tautology_Or_Timing
{
    meta:
        description = "SQL injection: quote-closing tautology, stacked query or timing probe in a parameter"
        author = "CityShield"
        date = "2026-03-02"
        severity = "high"
        category = "exploit"
        mitre_attack = "T1190"
    strings:
        // ' OR '1'='1   ' OR 1=1--   " or "a"="a   (raw and URL-encoded; YARA has no backreferences)
        $taut = /(['"]|%27|%22)\s*(\)\s*)?(\s|\+|%20)+or(\s|\+|%20)+(['"]|%27|%22)?[0-9a-z]{1,8}(['"]|%27|%22)?(\s|\+|%20)*(=|%3d)(\s|\+|%20)*(['"]|%27|%22)?[0-9a-z]{1,8}/ nocase
        $comment = /(['"]|%27|%22)(\s|\+|%20)*(or|and)(\s|\+|%20)+[0-9]+(=|%3d)[0-9]+(\s|\+|%20)*(--|#|%23|\/\*)/ nocase
        $sleep = /(['"\)]|%27|%22|%29|[0-9])(\s|\+|%20)*(and|or|;|%3b)(\s|\+|%20)*(\(?\s*select\s*\(?\s*)?(sleep|pg_sleep|benchmark)(\s|%20)*(\(|%28)\s*[0-9]/ nocase
        $waitfor = /(['"\)]|%27|%22|%29|;|%3b)(\s|\+|%20)*waitfor(\s|\+|%20)+delay(\s|\+|%20)+(['"]|%27)[0-9:]+/ nocase
        $stacked = /(['"]|%27|%22)(\s|\+|%20)*(;|%3b)(\s|\+|%20)*(drop|exec|execute|declare|shutdown|insert|update|delete)(\s|\+|%20)+/ nocase
        $xp = /\bexec(\s|\+|%20)+(master\.\.)?xp_cmdshell\b/ nocase
        $schema = /(union|select)(\s|\+|%20|\/\*\*\/)[^\n]{0,80}information_schema\.(tables|columns|schemata)/ nocase
    condition:
        any of them
}

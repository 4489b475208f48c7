/*
   ASP.NET webshells: request input evaluated by JScript.NET (China Chopper's ASPX variant) or
   passed to a process started from the page.
*/

rule CityShield_Webshell_ASPX_Eval_Request
{
    meta:
        description = "ASPX page that evaluates request input (China Chopper ASPX)"
        author = "CityShield"
        date = "2026-03-02"
        severity = "critical"
        category = "webshell"
        mitre_attack = "T1505.003"
    strings:
        $page = /<%@\s*Page\s+Language\s*=\s*"?(Jscript|C#|VB)"?/ nocase
        $eval = /eval\s*\(\s*Request(\.Item|\.Form|\.QueryString)?\s*[\[\(]\s*"[^"]{1,40}"\s*[\]\)]\s*(,\s*"unsafe")?/ nocase
    condition:
        $page and $eval
}

rule CityShield_Webshell_ASPX_Command_Request
{
    meta:
        description = "ASPX page that starts a process with arguments from the request"
        author = "CityShield"
        date = "2026-03-02"
        severity = "critical"
        category = "webshell"
        mitre_attack = "T1505.003 T1059.003"
    strings:
        $page = /<%@\s*Page\s/ nocase
        $proc1 = "System.Diagnostics.Process" ascii nocase
        $proc2 = "ProcessStartInfo" ascii
        $shell = /"(cmd(\.exe)?|powershell(\.exe)?)"/ nocase
        $arg = /\.Arguments\s*=\s*[^;]{0,40}Request\s*(\.Form|\.QueryString|\.Item|\.Params)?\s*[\[\(]/ nocase
        $start = /Process\s*\.\s*Start\s*\([^;]{0,80}Request\s*(\.Form|\.QueryString|\.Item|\.Params)?\s*[\[\(]/ nocase
    condition:
        $page and ($proc1 or $proc2) and ($start or ($shell and $arg))
}

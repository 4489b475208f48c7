/*
   JSP webshells: request input handed to Runtime.exec or ProcessBuilder, and the class-loading
   shells (Behinder, Godzilla) that decrypt a class from the request body and define it.
*/

rule CityShield_Webshell_JSP_Command_Request
{
    meta:
        description = "JSP page that runs a command taken from a request parameter"
        author = "CityShield"
        date = "2026-03-02"
        severity = "critical"
        category = "webshell"
        mitre_attack = "T1505.003 T1059"
    strings:
        $jsp1 = "<%" ascii
        $jsp2 = "<jsp:" ascii
        $exec1 = /Runtime\s*\.\s*getRuntime\s*\(\s*\)\s*\.\s*exec\s*\(\s*(new\s+String\s*\[\s*\]\s*\{[^}]{0,80})?request\s*\.\s*getParameter/
        $exec2 = /new\s+ProcessBuilder\s*\([^;]{0,120}request\s*\.\s*getParameter/
        $exec3 = /getParameter\s*\([^;]{0,60}\)\s*;[^%]{0,300}Runtime\s*\.\s*getRuntime\s*\(\s*\)\s*\.\s*exec\s*\(/
    condition:
        ($jsp1 or $jsp2) and any of ($exec*)
}

rule CityShield_Webshell_JSP_Class_Loader
{
    meta:
        description = "JSP page that decrypts a class from the request and defines it (Behinder/Godzilla style)"
        author = "CityShield"
        date = "2026-03-02"
        severity = "critical"
        category = "webshell"
        mitre_attack = "T1505.003 T1027"
    strings:
        $jsp = "<%" ascii
        $cipher = "javax.crypto.Cipher" ascii
        $cipher2 = "Cipher.getInstance(\"AES" ascii
        $define = "defineClass" ascii
        $loader = /extends\s+ClassLoader/
        $body1 = "request.getReader()" ascii
        $body2 = "request.getInputStream()" ascii
        $session = /session\s*\.\s*(putValue|setAttribute)\s*\(\s*"[^"]{1,10}"\s*,/
    condition:
        $jsp and ($cipher or $cipher2) and ($define or $loader) and ($body1 or $body2 or $session)
}
